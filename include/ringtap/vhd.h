/* The VHD format library (librtvhd): on-disk structures of Microsoft's Virtual Hard Disk format
 * as blktap writes them, strict validation of everything read, and synchronous file helpers. */
#ifndef RINGTAP_VHD_H
#define RINGTAP_VHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Layout of the files this library writes (blktap's, so tapdisk, qemu and libvhdi read them):
 *
 *   0       footer copy (512)            dynamic and differencing disks only
 *   512     dynamic header (1024)
 *   1536    BAT, one big-endian u32 sector number per block, padded to a sector
 *           batmap header "tdbatmap" (512), then the batmap (1 bit per block, MSB first)
 *           parent locators (differencing disks): MacX, W2ku, W2ru, each padded to a sector
 *   ...     blocks: sector bitmap (padded to a sector) + data; data 4 KiB-aligned
 *   end     footer (512)
 *
 * A fixed disk is the raw data followed by the footer.
 *
 * Two layers of API:
 * - pure functions (no I/O) that encode, decode, validate and compute offsets; an image driver
 *   doing its own asynchronous I/O uses these plus the metadata vhd_open() loaded;
 * - struct vhd_file with synchronous helpers (pread/pwrite) used by vhd-util and tests.
 * Every function returns 0 or a negative errno; `why` out-parameters receive a static string
 * naming the broken rule, and struct vhd_file carries a formatted message in `err`.
 */

#define VHD_SECTOR_SIZE 512u
#define VHD_SECTOR_SHIFT 9
#define VHD_FOOTER_SIZE 512u
#define VHD_HEADER_SIZE 1024u
#define VHD_BLOCK_SIZE 0x200000u /* the block size we create: 2 MiB */
#define VHD_DATA_ALIGN 4096u /* data areas of blocks we allocate start on this boundary */
#define VHD_BAT_UNUSED 0xFFFFFFFFu
/* The largest virtual size (and -S reservation) we create or grow to: blktap3 accepts 2 TiB,
 * which XAPI's LVHD reserves BATs for (lvhdutil.MSIZE_MB); XAPI caps VDIs at 2040 GiB. */
#define VHD_MAX_CREATE_SIZE (2ULL << 40)
#define VHD_MAX_SIZE (2ULL << 40) /* what a 32-bit BAT of sector numbers can address */
#define VHD_MIN_BLOCK_SIZE 512u
#define VHD_MAX_BLOCK_SIZE (256u << 20)
#define VHD_MAX_CHAIN_DEPTH 64
#define VHD_MAX_LOCATOR_BYTES 65536u /* a parent locator's data area, at most */

#define VHD_VERSION(maj, min) (((uint32_t)(maj) << 16) | ((min)&0xFFFFu))
#define VHD_FF_VERSION VHD_VERSION(1, 0)
#define VHD_HEADER_VERSION VHD_VERSION(1, 0)
#define VHD_CREATOR_VERSION VHD_VERSION(1, 3) /* blktap's "current": batmap 1.2 */
#define VHD_BATMAP_VERSION VHD_VERSION(1, 2)
#define VHD_FEATURES_RESERVED 0x2u /* must always be set */
#define VHD_FEATURES_TEMPORARY 0x1u
#define VHD_CREATOR_OS_WINDOWS 0x5769326Bu /* "Wi2k" */
#define VHD_CREATOR_OS_MAC 0x4D616320u /* "Mac " */

/* Footer byte offsets worth naming: blktap keeps `hidden` in the first reserved byte. */
#define VHD_FOOTER_CHECKSUM_OFFSET 64
#define VHD_FOOTER_SAVED_OFFSET 84
#define VHD_FOOTER_HIDDEN_OFFSET 85
#define VHD_HEADER_CHECKSUM_OFFSET 36

enum vhd_disk_type {
	VHD_TYPE_FIXED = 2,
	VHD_TYPE_DYNAMIC = 3,
	VHD_TYPE_DIFF = 4,
};

/* Parent locator platform codes. */
#define VHD_PLAT_NONE 0x0u
#define VHD_PLAT_WI2R 0x57693272u /* deprecated */
#define VHD_PLAT_WI2K 0x5769326Bu /* deprecated */
#define VHD_PLAT_W2RU 0x57327275u /* Windows relative path, UTF-16LE */
#define VHD_PLAT_W2KU 0x57326B75u /* Windows absolute path, UTF-16LE */
#define VHD_PLAT_MAC 0x4D616320u /* Mac OS alias blob */
#define VHD_PLAT_MACX 0x4D616358u /* file:// URL, UTF-8 */
#define VHD_LOCATORS 8

/* Host-order copies of the on-disk structures. Reserved areas are kept so that rewriting a
 * structure preserves what another tool stored there. */
struct vhd_footer {
	char cookie[8]; /* "conectix" */
	uint32_t features;
	uint32_t ff_version;
	uint64_t data_offset; /* dynamic header offset; all ones for fixed disks */
	uint32_t timestamp; /* seconds since 2000-01-01 00:00 UTC */
	char creator_app[4];
	uint32_t creator_version;
	uint32_t creator_os;
	uint64_t orig_size;
	uint64_t curr_size; /* virtual size in bytes */
	uint32_t geometry; /* cylinders << 16 | heads << 8 | sectors per track */
	uint32_t type; /* enum vhd_disk_type */
	uint32_t checksum;
	uint8_t uuid[16];
	uint8_t saved;
	uint8_t hidden; /* blktap: the VDI is hidden (a snapshot's parent) */
	uint8_t reserved[426];
};

struct vhd_locator {
	uint32_t code;
	uint32_t data_space; /* sectors per the spec; bytes as Microsoft and blktap write it */
	uint32_t data_len;
	uint32_t reserved;
	uint64_t data_offset;
};

struct vhd_header {
	char cookie[8]; /* "cxsparse" */
	uint64_t data_offset; /* unused, all ones */
	uint64_t table_offset; /* BAT */
	uint32_t version;
	uint32_t max_bat_entries;
	uint32_t block_size;
	uint32_t checksum;
	uint8_t parent_uuid[16];
	uint32_t parent_timestamp;
	uint32_t reserved1;
	uint8_t parent_name[512]; /* UTF-16BE */
	struct vhd_locator loc[VHD_LOCATORS];
	uint8_t reserved2[256];
};

/* tapdisk's batmap: one bit per BAT entry, set when the block's sector bitmap is full, so a
 * reader may skip the bitmap. A clear bit only costs a bitmap read; a wrongly set one would
 * hide a parent's data, so bits are set after the bitmap is durable and cleared before it. */
struct vhd_batmap_header {
	char cookie[8]; /* "tdbatmap" */
	uint64_t offset; /* of the map, bytes */
	uint32_t size; /* of the map, sectors */
	uint32_t version;
	uint32_t checksum; /* one's complement of the byte sum of the map */
	uint8_t marker;
	uint8_t rest[483]; /* the remainder of the header sector, preserved */
};

/* ---- checksums, geometry, time, UUIDs (checksum.c, geometry.c, ids.c) ---------------------- */

/* One's complement of the sum of all bytes of buf, the 4 bytes at csum_off counted as zero. */
uint32_t vhd_checksum(const void *buf, size_t len, size_t csum_off);
/* CHS geometry for a disk of `size` bytes, by the algorithm of the VHD specification. */
uint32_t vhd_chs(uint64_t size);
uint64_t vhd_chs_size(uint32_t geometry); /* bytes addressed by a geometry */
uint32_t vhd_time(time_t unix_time);
time_t vhd_time_to_unix(uint32_t vhd_time);
int vhd_uuid_generate(uint8_t uuid[16]); /* random (version 4) */
void vhd_uuid_format(const uint8_t uuid[16], char out[37]);
bool vhd_uuid_is_null(const uint8_t uuid[16]);

/* ---- footer and header (footer.c, header.c) ------------------------------------------------ */

/* A footer for a new disk: creator "tap\0" 1.3 on "Wi2k", fresh UUID, CHS of `size`. */
int vhd_footer_init(struct vhd_footer *f, enum vhd_disk_type type, uint64_t size, time_t now);
/* Encode into 512 bytes, computing and storing the checksum in f. */
void vhd_footer_encode(struct vhd_footer *f, uint8_t buf[VHD_FOOTER_SIZE]);
/* Decode and check cookie and checksum only (-EINVAL, *why set). */
int vhd_footer_decode(const uint8_t buf[VHD_FOOTER_SIZE], struct vhd_footer *f, const char **why);
/* Field rules: version, type, sizes. */
int vhd_footer_validate(const struct vhd_footer *f, const char **why);
/* blktap's test: a creator app starting with "tap". */
bool vhd_footer_by_tapdisk(const struct vhd_footer *f);
const char *vhd_type_name(uint32_t type); /* "Dynamic hard disk", ... */

void vhd_header_init(struct vhd_header *h, uint64_t table_offset, uint32_t max_bat_entries,
		     uint32_t block_size);
void vhd_header_encode(struct vhd_header *h, uint8_t buf[VHD_HEADER_SIZE]);
int vhd_header_decode(const uint8_t buf[VHD_HEADER_SIZE], struct vhd_header *h, const char **why);
/* Field rules against the footer: block size, BAT size against the virtual size, codes. */
int vhd_header_validate(const struct vhd_header *h, const struct vhd_footer *f, const char **why);
/* The parent's name stored in the header (UTF-16BE) as UTF-8. */
int vhd_header_parent_name(const struct vhd_header *h, char *out, size_t outlen);
int vhd_header_set_parent_name(struct vhd_header *h, const char *name);

/* ---- sizes and offsets (layout.c) ----------------------------------------------------------- */

static inline uint64_t vhd_round_up(uint64_t n, uint64_t align)
{
	return (n + align - 1) / align * align;
}
static inline uint64_t vhd_sectors_to_bytes(uint64_t s)
{
	return s << VHD_SECTOR_SHIFT;
}
/* Bytes of a block's sector bitmap: one bit per sector, padded to a sector. */
uint32_t vhd_bitmap_bytes(uint32_t block_size);
/* Blocks covering `size` bytes. */
uint32_t vhd_blocks_for(uint64_t size, uint32_t block_size);
/* Bytes of a BAT of n entries, padded to a sector. */
uint64_t vhd_bat_bytes(uint32_t entries);
/* Where blktap puts the batmap header: right after the BAT. */
uint64_t vhd_batmap_header_offset(const struct vhd_header *h);
/* Sectors of a batmap covering n BAT entries (blktap: at least one). */
uint32_t vhd_batmap_sectors(uint32_t entries);
/* Bytes of the batmap that its checksum covers (blktap's rule, from the virtual size). */
uint64_t vhd_batmap_checksum_bytes(uint64_t curr_size);
uint32_t vhd_batmap_checksum(const uint8_t *map, size_t len, uint32_t version);
/* Offset of a block's bitmap / data from its BAT entry. */
static inline uint64_t vhd_block_bitmap_offset(uint32_t bat_entry)
{
	return vhd_sectors_to_bytes(bat_entry);
}
static inline uint64_t vhd_block_data_offset(uint32_t bat_entry, uint32_t bitmap_bytes)
{
	return vhd_sectors_to_bytes(bat_entry) + bitmap_bytes;
}
/* Where to put a new block's bitmap so that it starts at or after `end` and its data area is
 * VHD_DATA_ALIGN-aligned (what tapdisk does). */
uint64_t vhd_next_block_offset(uint64_t end, uint32_t bitmap_bytes);

/* The batmap header. */
void vhd_batmap_header_init(struct vhd_batmap_header *b, uint64_t map_offset, uint32_t sectors);
void vhd_batmap_header_encode(const struct vhd_batmap_header *b, uint8_t buf[VHD_SECTOR_SIZE]);
int vhd_batmap_header_decode(const uint8_t buf[VHD_SECTOR_SIZE], struct vhd_batmap_header *b,
			     const char **why);

/* ---- bitmaps (bitmap.c): sector bitmaps and the batmap, MSB first --------------------------- */

static inline bool vhd_bit_test(const uint8_t *map, uint32_t bit)
{
	return (map[bit >> 3] >> (7 - (bit & 7))) & 1;
}
static inline void vhd_bit_set(uint8_t *map, uint32_t bit)
{
	map[bit >> 3] |= (uint8_t)(0x80 >> (bit & 7));
}
static inline void vhd_bit_clear(uint8_t *map, uint32_t bit)
{
	map[bit >> 3] &= (uint8_t) ~(0x80 >> (bit & 7));
}
void vhd_bits_set(uint8_t *map, uint32_t first, uint32_t count);
void vhd_bits_clear(uint8_t *map, uint32_t first, uint32_t count);
uint32_t vhd_bits_count(const uint8_t *map, uint32_t first, uint32_t count);
bool vhd_bits_all(const uint8_t *map, uint32_t first, uint32_t count);
/* Length of the run of equal bits starting at `first`, at most `max`. */
uint32_t vhd_bits_run(const uint8_t *map, uint32_t first, uint32_t max);

/* ---- BAT (bat.c) ---------------------------------------------------------------------------- */

void vhd_bat_decode(const uint8_t *buf, uint32_t entries, uint32_t *bat);
void vhd_bat_encode(const uint32_t *bat, uint32_t entries, uint8_t *buf);
/* The 512-byte BAT sector holding entry `block` (what a driver rewrites after an allocation):
 * its offset in the file and its contents from the in-memory BAT. */
uint64_t vhd_bat_sector_offset(const struct vhd_header *h, uint32_t block);
void vhd_bat_sector_encode(const uint32_t *bat, uint32_t entries, uint32_t block,
			   uint8_t buf[VHD_SECTOR_SIZE]);

/* ---- parent locators and UTF-16 (locator.c) ------------------------------------------------- */

bool vhd_locator_code_valid(uint32_t code);
const char *vhd_locator_code_name(uint32_t code);
/* Bytes of a locator's data area (data_space in sectors or bytes); 0 if malformed. */
uint32_t vhd_locator_space(const struct vhd_locator *loc);
/* UTF-8 <-> UTF-16 (LE or BE); -EILSEQ on invalid input, -ENAMETOOLONG if out is too small. */
int vhd_utf8_to_utf16(const char *in, uint8_t *out, size_t outlen, bool big_endian,
		      size_t *written);
int vhd_utf16_to_utf8(const uint8_t *in, size_t inlen, bool big_endian, char *out, size_t outlen);
/* Encode a relative path (as vhd_relative_path() gives) for one platform code: MacX
 * "file://./p.vhd" (UTF-8), W2ku/W2ru ".\p.vhd" (UTF-16LE). */
int vhd_locator_encode(uint32_t code, const char *path, uint8_t *out, size_t outlen, size_t *len);
/* Decode a locator's data into a POSIX path ("./p.vhd" or "/abs/p.vhd"). */
int vhd_locator_decode(uint32_t code, const uint8_t *data, size_t len, char *out, size_t outlen);
/* Path of `to` relative to the directory of `from` (both absolute, canonical), "./" prefixed
 * when it does not start with "../". */
int vhd_relative_path(const char *from, const char *to, char *out, size_t outlen);
/* The canonical path a VHD records for `path` (locators, parent name): its realpath(), except
 * that a device-mapper node (an LVM volume, /dev/dm-N) is /dev/mapper/<its dm name>, as blktap
 * names LVHD volumes. _at looks at ROOT/dev and ROOT/sys instead (tests). */
int vhd_canonical_path(const char *path, char *out, size_t outlen);
int vhd_canonical_path_at(const char *root, const char *path, char *out, size_t outlen);

/* ---- files (file.c, io.c): synchronous helpers -------------------------------------------- */

#define VHD_OPEN_RDONLY 0x0
#define VHD_OPEN_RDWR 0x1
/* Take the footer from the copy at offset 0 when it is valid, even if the trailing one is too
 * (blktap's "use the back-up footer": the end of a file a tapdisk is writing may hold data). */
#define VHD_OPEN_BACKUP_FOOTER 0x2
#define VHD_ERR_LEN 320

/* An open VHD with all its metadata loaded and validated. An image driver may use the metadata
 * (BAT, batmap, offsets) with its own O_DIRECT descriptor and the pure functions above; the
 * synchronous helpers below use `fd` (buffered) and keep these fields up to date. */
struct vhd_file {
	int fd;
	char *path;
	bool writable;
	bool is_block; /* a block device: the footer lives at its end, it cannot grow */
	uint64_t file_size; /* bytes, at open (updated as the file grows) */

	struct vhd_footer footer;
	bool footer_from_copy; /* the trailing footer was invalid: loaded from offset 0 */
	bool copy_valid; /* dynamic: the footer copy at offset 0 is valid */

	/* dynamic and differencing disks */
	struct vhd_header header;
	uint32_t *bat; /* header.max_bat_entries entries, host order */
	uint32_t blocks; /* blocks covering footer.curr_size (<= max_bat_entries) */
	uint32_t spb; /* sectors per block */
	uint32_t bitmap_bytes; /* of each block's sector bitmap */
	bool has_batmap;
	struct vhd_batmap_header batmap;
	uint8_t *batmap_map; /* batmap.size sectors */
	bool batmap_dirty;
	uint64_t end_of_metadata; /* end of headers, BAT, batmap, locators */
	uint64_t end_of_data; /* end of metadata and every block: the footer's place */
	bool dirty; /* blocks were allocated: footers must be rewritten */

	char err[VHD_ERR_LEN]; /* what went wrong, for the last failure */
};

/* Open and validate everything (footer, header, BAT, batmap, locators, overlaps). A missing
 * or damaged trailing footer falls back to the copy at offset 0 (footer_from_copy). */
int vhd_open(struct vhd_file *f, const char *path, int flags);
/* The same on an open descriptor (not closed on failure; vhd_close closes it). */
int vhd_open_fd(struct vhd_file *f, int fd, const char *name, int flags);
/* Writes pending metadata (batmap, footers) when dirty, then closes. Returns the first error. */
int vhd_close(struct vhd_file *f);
/* Writes pending metadata and fsyncs. */
int vhd_flush(struct vhd_file *f);

/* Record "path: message" in f->err and return err (for callers adding their own failures). */
int vhd_fail(struct vhd_file *f, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline bool vhd_is_dynamic(const struct vhd_file *f)
{
	return f->footer.type == VHD_TYPE_DYNAMIC || f->footer.type == VHD_TYPE_DIFF;
}
bool vhd_parent_is_raw(const struct vhd_file *f); /* differencing with a null parent UUID */
int vhd_hidden(const struct vhd_file *f); /* 0/1, blktap's rules for old tapdisk files */
uint32_t vhd_allocated_blocks(const struct vhd_file *f);
/* Physical utilisation as blktap counts it: end of data plus the footer. */
uint64_t vhd_physical_size(const struct vhd_file *f);

/* Read a block's sector bitmap (bitmap_bytes) / write it back. */
int vhd_read_bitmap(struct vhd_file *f, uint32_t block, uint8_t *map);
int vhd_write_bitmap(struct vhd_file *f, uint32_t block, const uint8_t *map);
/* Read sectors present in this file alone; `present` (one bit per sector, count bits) gets a
 * set bit for each sector this file holds. Fixed disks hold everything; unallocated sectors of
 * a dynamic disk are not present (they read as zero); sectors past the virtual size are. */
int vhd_read_sectors(struct vhd_file *f, uint64_t sector, uint32_t count, void *buf,
		     uint8_t *present);
/* Write sectors, allocating blocks as needed (zeroed bitmap and data, data, BAT entry, bits). */
int vhd_write_sectors(struct vhd_file *f, uint64_t sector, uint32_t count, const void *buf);
/* Allocate a block (bitmap all clear) and return its BAT entry. */
int vhd_allocate_block(struct vhd_file *f, uint32_t block);
/* Write the trailing footer at end of data (truncating a regular file there) and, for dynamic
 * disks, the copy at offset 0. */
int vhd_write_footers(struct vhd_file *f);
int vhd_write_header(struct vhd_file *f);
int vhd_write_bat(struct vhd_file *f);
int vhd_write_batmap(struct vhd_file *f);

/* Parent of a differencing disk: the first locator that decodes to an existing file, as a
 * canonical path (-ENOENT if none exists; *out then holds the first decoded name if any). */
int vhd_parent_path(struct vhd_file *f, char *out, size_t outlen);
/* Decode locator i of a differencing disk into a path; 1 if its kind is not one to follow
 * (Mac alias, deprecated codes, none). */
int vhd_read_locator(struct vhd_file *f, int i, char *out, size_t outlen);
/* Point a differencing disk at a new parent (rewrites locators, name, UUID, timestamp). */
int vhd_set_parent(struct vhd_file *f, const char *parent, bool parent_raw);

/* ---- creation (create.c) -------------------------------------------------------------------- */

/* Called while a fixed disk is preallocated: done and total bytes. */
typedef void (*vhd_progress_fn)(uint64_t done, uint64_t total, void *arg);

struct vhd_create_params {
	enum vhd_disk_type type;
	uint64_t size; /* bytes, rounded up to VHD_BLOCK_SIZE; 0 for a snapshot: the parent's */
	uint64_t meta_size; /* bytes of virtual size to reserve BAT/batmap for (resize -f) */
	const char *parent; /* differencing disks */
	bool parent_raw; /* the parent is a raw file or device */
	vhd_progress_fn progress;
	void *progress_arg;
};

/* Create a new image; `err` receives a message on failure. Never overwrites a regular file
 * that exists (-EEXIST); a block device is written in place. */
int vhd_create(const char *path, const struct vhd_create_params *p, char *err, size_t errlen);

/* ---- chains (chain.c) ----------------------------------------------------------------------- */

struct vhd_chain {
	int depth; /* VHD files in files[] */
	struct vhd_file *files; /* [0] is the leaf */
	int raw_fd; /* a raw parent at the root, or -1 */
	uint64_t raw_size;
	char *raw_path;
	char err[VHD_ERR_LEN];
};

/* Open a leaf and all its parents (read-only past the leaf); detects loops (-ELOOP), parents
 * whose UUID does not match (-EINVAL), missing parents (-ENOENT), chains deeper than
 * VHD_MAX_CHAIN_DEPTH (-ELOOP). */
int vhd_chain_open(struct vhd_chain *c, const char *path, int leaf_flags);
void vhd_chain_close(struct vhd_chain *c);
/* Read through the chain: the first layer holding a sector wins; nothing holds it: zero. */
int vhd_chain_read(struct vhd_chain *c, uint64_t sector, uint32_t count, void *buf);

/* ---- consistency check (check.c) ------------------------------------------------------------ */

#define VHD_CHECK_IGNORE_FOOTER 0x1 /* accept a missing trailing footer */
#define VHD_CHECK_FAST 0x2 /* skip reading every block's bitmap */
#define VHD_CHECK_PARENTS 0x4 /* the parent chain must be complete */

/* Open and check a file beyond what vhd_open validates: footer copies, bitmaps against the
 * batmap, the parent chain (loops always; missing parents with VHD_CHECK_PARENTS). */
int vhd_check(const char *path, int flags, char *err, size_t errlen);

/* ---- resize with a journal (resize.c) ------------------------------------------------------- */

/* Grow the virtual size. Within the reserved BAT the footer alone changes; otherwise the BAT is
 * enlarged, moving the blocks in its way to the end of the file, after saving everything it
 * overwrites in `journal` (removed on success; vhd_revert() undoes an interrupted resize). */
int vhd_resize(struct vhd_file *f, uint64_t new_size, const char *journal);
int vhd_revert(const char *path, const char *journal, char *err, size_t errlen);

#endif
