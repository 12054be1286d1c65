# Discard through virtio-blk: data written, then two ranges discarded, read
# back as zeroes; the rest is untouched. (busybox's blkdiscard cannot send
# write-zeroes; the device's handling of it is tested without a guest.)
disk=/dev/vda
yes "tiangong-discard-test-" | head -c 4194304 > /tmp/data
dd if=/tmp/data of=$disk bs=1M count=4 oflag=direct conv=notrunc 2>/dev/null || exit 1
blkdiscard -o 1048576 -l 1048576 $disk || { echo "discard failed"; exit 1; }
blkdiscard -o 2097152 -l 1048576 $disk || { echo "second discard failed"; exit 1; }
head -c 2097152 /dev/zero > /tmp/zero
dd if=$disk of=/tmp/got bs=1M count=2 skip=1 iflag=direct 2>/dev/null || exit 1
cmp -s /tmp/got /tmp/zero || { echo "discarded range is not zero"; exit 1; }
dd if=$disk of=/tmp/first bs=1M count=1 iflag=direct 2>/dev/null
head -c 1048576 /tmp/data | cmp -s - /tmp/first || { echo "first MiB changed"; exit 1; }
dd if=$disk of=/tmp/last bs=1M count=1 skip=3 iflag=direct 2>/dev/null
tail -c 1048576 /tmp/data | cmp -s - /tmp/last || { echo "last MiB changed"; exit 1; }
echo "discard verified"
