/* le.h: little-endian fields at any alignment (headers, tables, config space, fuzz inputs), whatever the host's byte order. */
#ifndef LE_H
#define LE_H

#include <stdint.h>

/* The low `size` bytes (0..8) of a little-endian field at p. */
static inline uint64_t get_le(const void *p, unsigned size)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* Store the low `size` bytes (0..8) of v at p, least significant first. */
static inline void put_le(void *p, unsigned size, uint64_t v)
{
	uint8_t *b = p;

	for (unsigned i = 0; i < size; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_le16(const void *p) { return (uint16_t)get_le(p, 2); }
static inline uint32_t get_le32(const void *p) { return (uint32_t)get_le(p, 4); }
static inline uint64_t get_le64(const void *p) { return get_le(p, 8); }
static inline void put_le16(void *p, uint16_t v) { put_le(p, 2, v); }
static inline void put_le32(void *p, uint32_t v) { put_le(p, 4, v); }
static inline void put_le64(void *p, uint64_t v) { put_le(p, 8, v); }

#endif
