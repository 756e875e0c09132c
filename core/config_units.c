/* core/config_units.c: the value parsers behind every flag, file key and route key.
 *
 * Owns: sizes (k/m/g, 1024-based), durations (ms/s/m/h, bare = seconds), ADDR:PORT with host
 * name resolution, decimal counts, rates (R[/BURST]) and balancing policy names. Each is a
 * function of its string alone: no error text beyond a short reason, which the caller (the
 * setter in config_opts.c, or config_routes.c) wraps with the flag or key and the quoted
 * value. Main thread only: config__addr_parse calls getaddrinfo.
 *
 * Rejected: strtoull and friends. They accept a sign, leading spaces and "0x", so "-1" would
 * wrap to a huge count and " 5" would be silently fine; digits are scanned by hand with an
 * explicit overflow check instead. */
#include "core/config_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

/* Decimal digits only (no sign, no space), at least one; 0 or -1 on junk or overflow.
 * *end gets the first non-digit. */
static int cfg_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	*end = p;
	return 0;
}

int config__parse_u64(const char *s, uint64_t *out)
{
	const char *end;

	if (s == NULL || cfg_digits(s, out, &end) != 0 || *end != '\0')
		return -1;
	return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v, mul = 1;
	const char *end;

	if (s == NULL || cfg_digits(s, &v, &end) != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || (v != 0 && v > UINT64_MAX / mul))
		return -1;
	*out = v * mul;
	return 0;
}

int config_parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v, mul;
	const char *end;

	if (s == NULL || cfg_digits(s, &v, &end) != 0)
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mul = 3600 * 1000;
	else
		return -1;
	if (v != 0 && v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* ADDR:PORT with ADDR an IPv4 literal, a host name or [IPv6]; the port 1..65535 is required.
 * Names are resolved (first result, AF_UNSPEC). reason gets a short phrase on failure. */
int config__addr_parse(const char *s, struct cfg_addr *out, const char **reason)
{
	char host[256], port_s[8], num[INET6_ADDRSTRLEN];
	const char *colon, *h = s;
	size_t hlen;
	uint64_t port;
	bool bracket = false;
	struct addrinfo hints, *res = NULL;

	*reason = "expected ADDR:PORT";
	if (s == NULL || *s == '\0')
		return -1;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
		bracket = true;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL) {
			*reason = "IPv6 addresses go in brackets: [::1]:8080";
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*reason = hlen == 0 ? "empty host" : "host name too long";
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)host[i];
		if (c <= 0x20 || c >= 0x7f || c == '[' || c == ']' || c == '/') {
			*reason = "bad host";
			return -1;
		}
	}
	if (config__parse_u64(colon + 1, &port) != 0 || port == 0 || port > 65535) {
		*reason = "port must be 1..65535";
		return -1;
	}
	snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracket ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (bracket ? AI_NUMERICHOST : 0);
	if (getaddrinfo(host, port_s, &hints, &res) != 0 || res == NULL) {
		*reason = bracket ? "bad IPv6 address" : "host does not resolve";
		return -1;
	}
	if (res->ai_addrlen > sizeof(out->ss)) {
		freeaddrinfo(res);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	if (getnameinfo((struct sockaddr *)&out->ss, out->len, num, sizeof(num), NULL, 0,
	                NI_NUMERICHOST) != 0) {
		*reason = "cannot print address";
		return -1;
	}
	int n = out->ss.ss_family == AF_INET6
	            ? snprintf(out->text, sizeof(out->text), "[%s]:%s", num, port_s)
	            : snprintf(out->text, sizeof(out->text), "%s:%s", num, port_s);
	if (n < 0 || (size_t)n >= sizeof(out->text)) {
		*reason = "address too long";
		return -1;
	}
	return 0;
}

int config_parse_addr(const char *s, struct cfg_addr *out)
{
	const char *reason;

	return config__addr_parse(s, out, &reason);
}

/* R[/BURST]: R and BURST 1..2^32-1, BURST defaults to R. "off" and "0" (only when allow_off)
 * give {0, 0}. */
int config__parse_rate(const char *s, bool allow_off, uint32_t *rate, uint32_t *burst)
{
	uint64_t r, b;
	const char *end;

	if (s == NULL)
		return -1;
	if (allow_off && (strcmp(s, "off") == 0 || strcmp(s, "0") == 0)) {
		*rate = *burst = 0;
		return 0;
	}
	if (cfg_digits(s, &r, &end) != 0 || r == 0 || r > UINT32_MAX)
		return -1;
	b = r;
	if (*end == '/') {
		if (cfg_digits(end + 1, &b, &end) != 0 || b == 0 || b > UINT32_MAX)
			return -1;
	}
	if (*end != '\0')
		return -1;
	*rate = (uint32_t)r;
	*burst = (uint32_t)b;
	return 0;
}

/* lb policy: round-robin|least-conn|ip-hash|header-hash:NAME; *header gets a copy of NAME. */
int config__parse_lb(const char *s, enum rt_lb *lb, char **header)
{
	*header = NULL;
	if (strcmp(s, "round-robin") == 0)
		*lb = RT_LB_ROUND_ROBIN;
	else if (strcmp(s, "least-conn") == 0)
		*lb = RT_LB_LEAST_CONN;
	else if (strcmp(s, "ip-hash") == 0)
		*lb = RT_LB_IP_HASH;
	else if (strncmp(s, "header-hash:", 12) == 0) {
		const char *name = s + 12;
		/* RFC 9110 5.1: a field name is a token */
		if (*name == '\0' || strspn(name, "!#$%&'*+-.^_`|~0123456789"
		                                  "abcdefghijklmnopqrstuvwxyz"
		                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(name))
			return -1;
		*header = strdup(name);
		if (*header == NULL)
			return -1;
		*lb = RT_LB_HEADER_HASH;
	} else {
		return -1;
	}
	return 0;
}

bool config__is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

bool config__is_cluster_name(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
		if (!ok || n >= 32)
			return false;
	}
	return n > 0;
}
