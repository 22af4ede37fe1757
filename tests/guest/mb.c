/* tests/guest/mb.c: a multiboot guest (32-bit, paging off): checks EAX, the info flags, command line, modules and memory map, then exits through port 0xf4 with 0x20 + the module count. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define COM1         0x3f8
#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_WANT_FLAGS ((1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9))

extern char __load_start[], __bss_end[];
void mb_main(u32 magic, u32 info);
static int failed;

static void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static u8 rd8(u32 a) { return *(volatile u8 *)a; }
static u32 rd32(u32 a) { return *(volatile u32 *)a; }
static u64 rd64(u32 a) { return rd32(a) | (u64)rd32(a + 4) << 32; }

static void putc(char c)
{
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		;
	outb(COM1, (u8)c);
}
static void puts(const char *s) { while (*s) putc(*s++); }
static void puthex(u64 v)
{
	int i = 60;
	puts("0x");
	while (i > 0 && !(v >> i))
		i -= 4;
	for (; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 15]);
}
static void putkv(const char *k, u64 v) { puts(k); puthex(v); putc('\n'); }
/* The guest-memory string at a, at most max bytes, stopping at NUL or newline. */
static void putstr(u32 a, int max)
{
	for (int i = 0; i < max && rd8(a + i) && rd8(a + i) != '\n'; i++)
		putc((char)rd8(a + i));
}
static void bad(const char *what, u64 v)
{
	puts("guest FAIL: mb: ");
	putkv(what, v);
	failed = 1;
}

static void check_mmap(u32 info, u32 ram_top)
{
	u32 p = rd32(info + 48), end = p + rd32(info + 44), n = 0;
	int kernel_ram = 0;

	for (; p < end && n < 32; p += rd32(p) + 4, n++) {
		u64 base = rd64(p + 4), len = rd64(p + 12);
		u32 type = rd32(p + 20);
		puts("mb: mmap ");
		puthex(base);
		puts(" +");
		puthex(len);
		putkv(" type ", type);
		if (rd32(p) != 20)
			bad("mmap entry size is not 20: ", rd32(p));
		if (type == 1 && base <= (u32)__load_start && (u32)__bss_end <= base + len)
			kernel_ram = 1;
		if (type == 1 && base == 0x100000 && base + len != ram_top)
			bad("mmap RAM at 1 MiB disagrees with mem_upper: ends at ", base + len);
		if (type == 1 && base < 0x100000 && base + len > 0xa0000)
			bad("mmap RAM covers the VGA/BIOS hole: ", base);
	}
	putkv("mb: mmap entries ", n);
	if (n == 0 || p != end)
		bad("mmap_length is not a whole number of entries: ", rd32(info + 44));
	if (!kernel_ram)
		bad("no mmap RAM entry covers the kernel at ", (u32)__load_start);
}

static void check_modules(u32 info, u32 ram_top)
{
	u32 n = rd32(info + 20), list = rd32(info + 24), prev_end = (u32)__bss_end;

	putkv("mb: modules ", n);
	for (u32 i = 0; i < n && i < 16; i++) {
		u32 m = list + 16 * i, start = rd32(m), end = rd32(m + 4);
		puts("mb: module ");
		puthex(i);
		puts(" string '");
		putstr(rd32(m + 8), 200);
		puts("' bytes '");
		putstr(start, end - start < 32 ? end - start : 32);
		puts("'\n");
		if (start & 0xfff)
			bad("module not page aligned: ", start);
		if (end < start || start < prev_end || end > ram_top)
			bad("module overlaps the kernel or another module, or leaves RAM: ", start);
		prev_end = end;
	}
}

void mb_main(u32 magic, u32 info)
{
	u32 cr0, flags, ram_top;

	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	puts("mb: 32-bit entry\n");
	if (magic != MB_BOOT_MAGIC)
		bad("EAX is not 0x2BADB002: ", magic);
	if ((cr0 & 0x80000001u) != 1)
		bad("CR0: want PE without PG: ", cr0);
	flags = rd32(info);
	putkv("mb: flags ", flags);
	if ((flags & MB_WANT_FLAGS) != MB_WANT_FLAGS) {
		bad("info flags lack mem, cmdline, mods, mmap or loader name: ", flags);
		outb(0xf4, 0x7f);
	}
	ram_top = 0x100000 + rd32(info + 8) * 1024;
	putkv("mb: mem_lower KiB ", rd32(info + 4));
	putkv("mb: mem_upper KiB ", rd32(info + 8));
	if (rd32(info + 4) < 512 || rd32(info + 4) > 640)
		bad("mem_lower outside 512..640 KiB: ", rd32(info + 4));
	if (ram_top < (u32)__bss_end)
		bad("mem_upper does not reach the kernel's end: ", rd32(info + 8));
	puts("mb: cmdline '");
	putstr(rd32(info + 16), 200);
	puts("'\n");
	puts("mb: loader '");
	putstr(rd32(info + 64), 32);
	puts("'\n");
	check_mmap(info, ram_top);
	check_modules(info, ram_top);
	if (failed) {
		puts("guest FAIL: mb: see the lines above\n");
		outb(0xf4, 0x7f);
	}
	puts("mb ok\n");
	outb(0xf4, (u8)(0x20 + rd32(info + 20)));
}
