# VHD on LVM as XAPI's LVHD SRs run it (sm drivers/lvhdutil.py, LVHDSR.py): the sizes SM gives
# a VDI's logical volume, and its steps on it (create, inflate, deflate, snapshot). Sourced by
# tests/system/lvhd.sh (and lvhd-loop.sh) and by the real Xen test's dom0 (tests/xen).
#
# The caller provides: VHD_UTIL (the vhd-util binary), a `fail MESSAGE` that reports (it may
# exit, or print and return 1), a `at_exit CMD` (may do nothing), and LVHD_BACKEND:
#   lvm   real LVM: a volume group VG_XenStorage-<sr> on a loop device over a file, logical
#         volumes VHD-<vdi> at /dev/VG_XenStorage-<sr>/VHD-<vdi> (needs device-mapper)
#   loop  the same names as symlinks in a directory, each "logical volume" a loop device over
#         its own file (resize: truncate + losetup -c; rename: the symlink), for kernels
#         without device-mapper
# Every step returns non-zero after calling fail. All sizes are in bytes unless named _mib.
#
#   lvhd_vg_create SR BYTES DIR    the volume group, its files in DIR; removed at exit
#   lvhd_vg_remove                 every LV, the VG, its loop devices and files
#   lvhd_lv_create NAME BYTES | lvhd_lv_resize NAME BYTES | lvhd_lv_rename OLD NEW
#   lvhd_lv_readonly NAME | lvhd_lv_path NAME | lvhd_lv_bytes NAME | lvhd_lv_canonical NAME
#   lvhd_vdi_create VDI VIRT_MIB   a thin VDI: the empty-VHD LV, `vhd-util create -S`
#   lvhd_inflate VDI BYTES         lvextend, zero the last 512 B, `vhd-util modify -s BYTES`
#   lvhd_deflate VDI               `vhd-util modify -s` to the used size rounded up, lvreduce
#   lvhd_snapshot VDI BASE         (tapdisk paused) the VDI's LV becomes VHD-BASE, deflated,
#                                  read-only and hidden; a new VHD-VDI is its child
#   lvhd_blocks_fit LV_BYTES PHYS  how many more 2 MiB blocks tapdisk can allocate on an LV
#                                  whose VHD uses PHYS bytes (`vhd-util query -s`)

LVHD_MIB=1048576
LVHD_BLOCK=$((2 * LVHD_MIB)) # the VHD block size SM uses
# SM's MSIZE_MB: every LVHD VHD reserves its BAT for 2 TiB (`create`/`snapshot -S 2097152`), so
# that an online resize never moves blocks; the LV sizes below count that metadata
LVHD_MSIZE_MIB=2097152
LVHD_LV_INCREMENT=$((4 * LVHD_MIB)) # lvutil.LVM_SIZE_INCREMENT: LVs grow in 4 MiB extents

lvhd_roundup() { echo $((($2 + $1 - 1) / $1 * $1)); } # ROUND VALUE (util.roundup's order)

# sm vhdutil.calcOverheadEmpty: the metadata of an empty VHD of that virtual size — footer, its
# copy and the header (3 KiB), 4 bytes of BAT per 2 MiB block rounded to a sector, one batmap
# bit per block, all rounded to 4 KiB. 4329472 for SM's 2 TiB.
lvhd_overhead_empty() {
	local blocks=$(($1 / LVHD_MIB / 2)) o
	o=$(lvhd_roundup 512 $((3 * 1024 + blocks * 4)))
	lvhd_roundup 4096 $((o + blocks / 8))
}
# sm vhdutil.calcOverheadBitmap: a 4 KiB bitmap (a sector padded to keep data 4 KiB-aligned)
# for every 2 MiB block the virtual size touches
lvhd_overhead_bitmap() { echo $((($1 + LVHD_BLOCK - 1) / LVHD_BLOCK * 4096)); }
# sm lvhdutil.calcSizeLV: an LV holding that many bytes, in whole 4 MiB extents
lvhd_size_lv() { lvhd_roundup $LVHD_LV_INCREMENT "$1"; }
# sm lvhdutil.calcSizeVHDLV: the fully inflated LV of a VDI — the virtual size, the metadata
# reserved for 2 TiB and a bitmap per block
lvhd_size_vhd_lv() {
	lvhd_size_lv $(($1 + $(lvhd_overhead_empty $((LVHD_MSIZE_MIB * LVHD_MIB))) + \
		$(lvhd_overhead_bitmap "$1")))
}

lvhd_blocks_fit() {
	local lv=$1 end=$(($2 - 512)) n=0 off
	while :; do
		# tapdisk's allocator: the block's bitmap sector just below a 4 KiB-aligned data area
		off=$(($(lvhd_roundup 4096 $((end + 512))) - 512))
		[ $((off + 512 + LVHD_BLOCK)) -le $((lv - 512)) ] || break
		end=$((off + 512 + LVHD_BLOCK))
		n=$((n + 1))
	done
	echo $n
}

# ---- volumes ----------------------------------------------------------------------------------
# lvm2 without udev (the real Xen test's dom0 has none), seeing only this test's PV, and leaving
# no backup or archive of its metadata in /etc/lvm
_lvhd_lvm_try() {
	LVM_SUPPRESS_FD_WARNINGS=1 lvm "$@" --config "devices { filter = [ \"a|^$LVHD_PV\$|\", \"r|.*|\" ] \
		use_devicesfile = 0 obtain_device_list_from_udev = 0 } \
		activation { udev_sync = 0 udev_rules = 0 monitoring = 0 } \
		backup { backup = 0 archive = 0 }" >>"$LVHD_DIR/lvm.log" 2>&1
}
_lvhd_lvm() {
	_lvhd_lvm_try "$@" || {
		fail "lvm $*: $(tail -n 3 "$LVHD_DIR/lvm.log")"
		return 1
	}
}

lvhd_vg_create() {
	LVHD_VG=VG_XenStorage-$1
	LVHD_DIR=$3
	LVHD_PV=""
	mkdir -p "$LVHD_DIR" || return 1
	at_exit lvhd_vg_remove
	case $LVHD_BACKEND in
	lvm)
		LVHD_DEV_DIR=/dev/$LVHD_VG
		truncate -s "$2" "$LVHD_DIR/pv.img" || return 1
		LVHD_PV=$(losetup --show -f "$LVHD_DIR/pv.img") ||
			{ fail "losetup: no loop device for the PV"; return 1; }
		_lvhd_lvm vgcreate -q "$LVHD_VG" "$LVHD_PV" # (makes the PV too)
		;;
	loop)
		LVHD_DEV_DIR=$LVHD_DIR/$LVHD_VG
		mkdir -p "$LVHD_DEV_DIR" "$LVHD_DIR/lv"
		;;
	*) fail "LVHD_BACKEND must be lvm or loop" ;;
	esac
}

# (after a failure a tapdisk may still be closing the volumes: each removal is retried a while)
lvhd_vg_remove() {
	local lv dev i
	[ -n "${LVHD_VG:-}" ] || return 0
	case $LVHD_BACKEND in
	lvm)
		if [ -n "$LVHD_PV" ]; then
			for ((i = 0; i < 50; i++)); do
				_lvhd_lvm_try vgremove -f -q "$LVHD_VG" && break
				sleep 0.1
			done
			losetup -d "$LVHD_PV" # (the PV's label goes with its file)
		fi
		;;
	loop)
		for lv in "$LVHD_DEV_DIR"/*; do
			[ -L "$lv" ] || continue
			dev=$(readlink "$lv")
			for ((i = 0; i < 50; i++)); do
				losetup -d "$dev" 2>/dev/null && break
				sleep 0.1
			done
			rm -f "$lv"
		done
		rm -rf "$LVHD_DIR/lv" "${LVHD_DEV_DIR:?}"
		;;
	esac
	rm -f "$LVHD_DIR/pv.img"
	LVHD_VG=""
	return 0
}

lvhd_lv_path() { echo "$LVHD_DEV_DIR/$1"; }
# lvhd_lv_canonical NAME: how a VHD names the volume (a parent's locators, `query -p`): blktap's
# /dev/mapper/VG-LV with each name's dashes doubled (a loop device: its real path)
lvhd_lv_canonical() {
	if [ "$LVHD_BACKEND" = lvm ]; then
		echo "/dev/mapper/${LVHD_VG//-/--}-${1//-/--}"
	else
		readlink -f "$(lvhd_lv_path "$1")"
	fi
}
lvhd_lv_bytes() { blockdev --getsize64 "$(lvhd_lv_path "$1")"; }

lvhd_lv_create() {
	local dev
	case $LVHD_BACKEND in
	lvm) _lvhd_lvm lvcreate -q -n "$1" -L "$2"b "$LVHD_VG" ;;
	loop)
		truncate -s "$2" "$LVHD_DIR/lv/$1" &&
			dev=$(losetup --show -f "$LVHD_DIR/lv/$1") &&
			ln -s "$dev" "$LVHD_DEV_DIR/$1" || { fail "no loop device for $1"; return 1; }
		;;
	esac
}

lvhd_lv_resize() {
	case $LVHD_BACKEND in
	lvm) _lvhd_lvm lvresize -q -f -L "$2"b "$LVHD_VG/$1" ;;
	loop)
		truncate -s "$2" "$LVHD_DIR/lv/$1" && losetup -c "$(readlink "$LVHD_DEV_DIR/$1")" ||
			{ fail "resizing $1's loop device"; return 1; }
		;;
	esac
	[ "$(lvhd_lv_bytes "$1")" = "$2" ] || { fail "$1 is $(lvhd_lv_bytes "$1") bytes, not $2"; return 1; }
}

lvhd_lv_rename() {
	case $LVHD_BACKEND in
	lvm) _lvhd_lvm lvrename -q "$LVHD_VG" "$1" "$2" ;;
	loop) mv "$LVHD_DEV_DIR/$1" "$LVHD_DEV_DIR/$2" && mv "$LVHD_DIR/lv/$1" "$LVHD_DIR/lv/$2" ;;
	esac
}

# (a loop device cannot become read-only while attached: the loop backend keeps it writable)
lvhd_lv_readonly() {
	[ "$LVHD_BACKEND" = loop ] || _lvhd_lvm lvchange -q -p r "$LVHD_VG/$1"
}

# ---- VDIs -------------------------------------------------------------------------------------
# _lvhd_vhd_util ARGS...: vhd-util with its output in $LVHD_DIR/vhd-util.out; fails with it
_lvhd_vhd_util() {
	"$VHD_UTIL" "$@" >"$LVHD_DIR/vhd-util.out" 2>&1 ||
		{ fail "vhd-util $*: $(head -c 300 "$LVHD_DIR/vhd-util.out")"; return 1; }
}

# LVHDSR.create, thin provisioning: an LV just big enough for the empty VHD (8 MiB)
lvhd_vdi_create() {
	local path
	path=$(lvhd_lv_path "VHD-$1")
	lvhd_lv_create "VHD-$1" "$(lvhd_size_lv "$(lvhd_overhead_empty $((LVHD_MSIZE_MIB * LVHD_MIB)))")" &&
		_lvhd_vhd_util create --debug -n "$path" -s "$2" -S "$LVHD_MSIZE_MIB"
}

# lvhdutil.inflate: the LV grows, its last sector is zeroed (no stale footer there), and the
# footer moves to the new end
lvhd_inflate() {
	local name=VHD-$1 path
	path=$(lvhd_lv_path "$name")
	lvhd_lv_resize "$name" "$2" || return 1
	dd if=/dev/zero of="$path" bs=512 count=1 seek=$(($2 / 512 - 1)) conv=notrunc,fsync \
		2>/dev/null || { fail "zeroing the last sector of $name"; return 1; }
	_lvhd_vhd_util modify -s "$(lvhd_lv_bytes "$name")" -n "$path"
}

# lvhdutil.deflate to what the VHD uses: the footer first, then the LV shrinks under it
lvhd_deflate() {
	local name=VHD-$1 path phys want
	path=$(lvhd_lv_path "$name")
	_lvhd_vhd_util query --debug -s -n "$path" || return 1
	phys=$(tail -n 1 "$LVHD_DIR/vhd-util.out")
	want=$(lvhd_size_lv "$phys")
	[ "$want" -lt "$(lvhd_lv_bytes "$name")" ] || return 0
	_lvhd_vhd_util modify --debug -s "$want" -n "$path" && lvhd_lv_resize "$name" "$want"
}

# LVHDSR._snapshot of an attached VDI (the caller paused its tapdisk and unpauses it onto the
# same path, now the new leaf)
lvhd_snapshot() {
	local vdi=$1 base=$2 virt_mib
	_lvhd_vhd_util query --debug -v -n "$(lvhd_lv_path "VHD-$vdi")" || return 1
	virt_mib=$(tail -n 1 "$LVHD_DIR/vhd-util.out")
	lvhd_lv_rename "VHD-$vdi" "VHD-$base" &&
		lvhd_deflate "$base" &&
		lvhd_lv_create "VHD-$vdi" "$(lvhd_size_vhd_lv $((virt_mib * LVHD_MIB)))" &&
		_lvhd_vhd_util snapshot --debug -n "$(lvhd_lv_path "VHD-$vdi")" \
			-p "$(lvhd_lv_path "VHD-$base")" -S "$LVHD_MSIZE_MIB" &&
		_lvhd_vhd_util set --debug -n "$(lvhd_lv_path "VHD-$base")" -f hidden -v 1 &&
		lvhd_lv_readonly "VHD-$base"
}
