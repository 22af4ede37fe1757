/* boot/aml.c: a small AML byte-code builder (names, integers, scoped terms, resource templates). */
#include <string.h>

#include "aml.h"

#define PKGLEN_RESERVE 4   /* a PkgLength is at most 4 bytes; close() shrinks it */

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	*a = (struct aml){ .buf = buf, .cap = cap };
}

bool aml_done(const struct aml *a)
{
	return !a->bad && a->depth == 0;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->bad)
		return;
	if (n > a->cap - a->len) {
		a->bad = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

void aml_le(struct aml *a, uint64_t v, unsigned nbytes)
{
	for (unsigned i = 0; i < nbytes; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

static bool lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
	return lead_char(c) || (c >= '0' && c <= '9');
}

/* One NameSeg from s (up to '.' or end); returns the characters consumed or 0 if invalid. */
static size_t name_seg(struct aml *a, const char *s)
{
	size_t n = 0;
	while (s[n] && s[n] != '.')
		n++;
	if (n == 0 || n > 4 || !lead_char(s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return 0;
	aml_bytes(a, s, n);
	for (size_t i = n; i < 4; i++)
		aml_byte(a, '_');
	return n;
}

static unsigned count_segs(const char *s)
{
	unsigned n = *s ? 1 : 0;
	for (; *s; s++)
		n += *s == '.';
	return n;
}

void aml_namestring(struct aml *a, const char *path)
{
	if (*path == '\\')
		aml_byte(a, *path++);
	else
		while (*path == '^')
			aml_byte(a, *path++);
	unsigned nsegs = count_segs(path);
	if (nsegs == 0) {
		aml_byte(a, 0x00);   /* NullName */
		return;
	}
	if (nsegs == 2)
		aml_byte(a, 0x2E);   /* DualNamePrefix */
	else if (nsegs > 2) {
		aml_byte(a, 0x2F);   /* MultiNamePrefix */
		aml_byte(a, (uint8_t)nsegs);
	}
	for (unsigned i = 0; i < nsegs; i++) {
		size_t used = name_seg(a, path);
		if (used == 0 || nsegs > 255) {
			a->bad = true;
			return;
		}
		path += used + (path[used] == '.');
	}
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0 || v == 1) {
		aml_byte(a, v ? AML_ONE : AML_ZERO);
	} else if (v == UINT64_MAX) {
		aml_byte(a, AML_ONES);
	} else if (v <= 0xFF) {
		aml_byte(a, 0x0A);
		aml_le(a, v, 1);
	} else if (v <= 0xFFFF) {
		aml_byte(a, 0x0B);
		aml_le(a, v, 2);
	} else if (v <= 0xFFFFFFFF) {
		aml_byte(a, 0x0C);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, 0x0E);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *c = s; *c; c++)
		if (*c < 0x20 || *c > 0x7E)
			a->bad = true;
	aml_byte(a, 0x0D);
	aml_bytes(a, s, strlen(s) + 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parse n hex digits at s into *v; false if any is not a hex digit. */
static bool hexn(const char *s, unsigned n, uint32_t *v)
{
	*v = 0;
	for (unsigned i = 0; i < n; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return false;
		*v = (*v << 4) | (uint32_t)h;
	}
	return true;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t num;
	if (strlen(id) != 7 || !hexn(id + 3, 4, &num)) {
		a->bad = true;
		return;
	}
	uint32_t v = num;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			a->bad = true;
			return;
		}
		v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	aml_int(a, __builtin_bswap32(v));   /* the compressed id is stored big-endian */
}

/* Open a term: opcode bytes, then room for the PkgLength that aml_close() fills in. */
static void aml_open(struct aml *a, const uint8_t *op, size_t oplen)
{
	aml_bytes(a, op, oplen);
	if (a->bad)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		a->bad = true;
		return;
	}
	a->open[a->depth++] = a->len;
	static const uint8_t room[PKGLEN_RESERVE];
	aml_bytes(a, room, sizeof(room));
}

void aml_close(struct aml *a)
{
	if (a->bad)
		return;
	if (a->depth == 0) {
		a->bad = true;
		return;
	}
	size_t at = a->open[--a->depth];
	size_t body = a->len - at - PKGLEN_RESERVE;
	unsigned n = 1;
	static const size_t limit[5] = { 0, 0x3F, 0xFFF, 0xFFFFF, 0xFFFFFFF };
	while (n <= 4 && body + n > limit[n])
		n++;
	if (n > 4) {
		a->bad = true;
		return;
	}
	size_t total = body + n;
	memmove(a->buf + at + n, a->buf + at + PKGLEN_RESERVE, body);
	a->len -= PKGLEN_RESERVE - n;
	if (n == 1) {
		a->buf[at] = (uint8_t)total;
		return;
	}
	a->buf[at] = (uint8_t)(((n - 1) << 6) | (total & 0xF));
	for (unsigned i = 1; i < n; i++)
		a->buf[at + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
}

void aml_uuid(struct aml *a, const char *u)
{
	/* Hex digits per field; the first three fields are stored little-endian. */
	static const unsigned digits[5] = { 8, 4, 4, 4, 12 };
	uint8_t out[16];
	unsigned o = 0;
	if (strlen(u) != 36) {
		a->bad = true;
		return;
	}
	for (unsigned f = 0; f < 5; f++) {
		for (unsigned i = 0; i < digits[f] / 2; i++) {
			uint32_t b;
			if (!hexn(u + 2 * i, 2, &b)) {
				a->bad = true;
				return;
			}
			unsigned pos = f < 3 ? o + digits[f] / 2 - 1 - i : o + i;
			out[pos] = (uint8_t)b;
		}
		o += digits[f] / 2;
		u += digits[f];
		if (f == 4)
			break;
		if (*u++ != '-') {
			a->bad = true;
			return;
		}
	}
	aml_buffer(a, out, sizeof(out));
}

void aml_buffer(struct aml *a, const void *p, size_t n)
{
	const uint8_t op = AML_BUFFER;
	aml_open(a, &op, 1);
	aml_int(a, n);
	aml_bytes(a, p, n);
	aml_close(a);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME);
	aml_namestring(a, path);
}

void aml_scope(struct aml *a, const char *path)
{
	const uint8_t op = AML_SCOPE;
	aml_open(a, &op, 1);
	aml_namestring(a, path);
}

void aml_device(struct aml *a, const char *path)
{
	static const uint8_t op[2] = { 0x5B, 0x82 };   /* ExtOpPrefix DeviceOp */
	aml_open(a, op, sizeof(op));
	aml_namestring(a, path);
}

void aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
	const uint8_t op = AML_METHOD;
	if (nargs > 7)
		a->bad = true;
	aml_open(a, &op, 1);
	aml_namestring(a, name);
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
}

void aml_package(struct aml *a, unsigned nelems)
{
	const uint8_t op = AML_PACKAGE;
	if (nelems > 255)
		a->bad = true;
	aml_open(a, &op, 1);
	aml_byte(a, (uint8_t)nelems);
}

void aml_if(struct aml *a)
{
	const uint8_t op = AML_IF;
	aml_open(a, &op, 1);
}

void aml_else(struct aml *a)
{
	const uint8_t op = AML_ELSE;
	aml_open(a, &op, 1);
}

/* ---- resource descriptors (ACPI 6.x section 6.4) ---- */

void aml_res_io(struct aml *r, uint16_t base, uint8_t len)
{
	aml_byte(r, 0x47);   /* small I/O port descriptor */
	aml_byte(r, 0x01);   /* decodes 16 bits */
	aml_le(r, base, 2);
	aml_le(r, base, 2);
	aml_byte(r, 1);      /* alignment */
	aml_byte(r, len);
}

void aml_res_irq(struct aml *r, unsigned irq)
{
	if (irq > 15)
		r->bad = true;
	aml_byte(r, 0x22);   /* small IRQ descriptor without flags: edge, active high */
	aml_le(r, 1u << (irq & 15), 2);
}

void aml_res_gsi_edge(struct aml *r, uint32_t gsi)
{
	aml_byte(r, 0x89);   /* extended interrupt descriptor (ACPI 6.4 6.4.3.6) */
	aml_le(r, 6, 2);
	aml_byte(r, 0x03);   /* consumer, edge, active high, exclusive, not wake */
	aml_byte(r, 1);      /* one interrupt */
	aml_le(r, gsi, 4);
}

void aml_res_mem32_fixed(struct aml *r, uint32_t base, uint32_t len)
{
	aml_byte(r, 0x86);
	aml_le(r, 9, 2);
	aml_byte(r, 0x01);   /* read/write */
	aml_le(r, base, 4);
	aml_le(r, len, 4);
}

/* Word/DWord address space descriptor head: a producer with fixed min and max. */
static void addr_head(struct aml *r, uint8_t tag, uint16_t len, uint8_t type, uint8_t tflags)
{
	aml_byte(r, tag);
	aml_le(r, len, 2);
	aml_byte(r, type);
	aml_byte(r, 0x0C);   /* MinFixed | MaxFixed, PosDecode, ResourceProducer */
	aml_byte(r, tflags);
}

/* Word address descriptor: granularity 0, translation 0. */
static void word_addr(struct aml *r, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	if (max < min)
		r->bad = true;
	addr_head(r, 0x88, 13, type, tflags);
	aml_le(r, 0, 2);
	aml_le(r, min, 2);
	aml_le(r, max, 2);
	aml_le(r, 0, 2);
	aml_le(r, (uint32_t)max - min + 1, 2);
}

void aml_res_bus_range(struct aml *r, uint16_t min, uint16_t max)
{
	word_addr(r, 2, 0, min, max);
}

void aml_res_io_window(struct aml *r, uint16_t min, uint16_t max)
{
	if (max == 0xFFFF && min == 0)
		r->bad = true;   /* the length would not fit a Word descriptor */
	word_addr(r, 1, 0x03, min, max);   /* EntireRange */
}

void aml_res_mem32_window(struct aml *r, uint32_t min, uint32_t max)
{
	if (max < min || (min == 0 && max == UINT32_MAX))
		r->bad = true;
	addr_head(r, 0x87, 23, 0, 0x01);   /* memory, read/write, non-cacheable */
	aml_le(r, 0, 4);
	aml_le(r, min, 4);
	aml_le(r, max, 4);
	aml_le(r, 0, 4);
	aml_le(r, (uint64_t)max - min + 1, 4);
}

void aml_restemplate(struct aml *a, struct aml *r)
{
	aml_byte(r, 0x79);   /* end tag; checksum 0 means "not computed" */
	aml_byte(r, 0x00);
	if (!aml_done(r)) {
		a->bad = true;
		return;
	}
	aml_buffer(a, r->buf, r->len);
}
