# tests/system/lvhd.sh's LVHD flow with loop devices standing in for the logical volumes (a
# loop device over a file per LV: truncate + losetup -c for lvextend/lvreduce, a symlink
# VG_XenStorage-<sr>/VHD-<vdi> for its name), so that it runs where the kernel has no
# device-mapper: the footer at the device's end, blocks allocated up to it, ENOSPC, deflate.
export LVHD_BACKEND=loop
. "$(dirname "$0")/lvhd.sh"
