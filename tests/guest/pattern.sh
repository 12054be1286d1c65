# Writes a pattern over the whole disk with direct I/O from both CPUs (so
# both queues carry requests), reads it back and checks it.
disk=/dev/vda
[ -b $disk ] || { echo "no $disk"; exit 1; }
mb=$(( $(cat /sys/block/vda/size) / 2048 ))
echo "disk: $mb MiB, queues: $(ls /sys/block/vda/mq | wc -l)"
block() { yes "tiangong-block-$1-" | head -c 1048576; }
writer() {  # writer CPU FIRST STEP
  i=$2
  while [ $i -lt $mb ]; do
    block $i > /tmp/w$1
    taskset -c $1 dd if=/tmp/w$1 of=$disk bs=1M count=1 seek=$i oflag=direct conv=notrunc 2>/dev/null || exit 1
    i=$((i + $3))
  done
}
writer 0 0 2 & a=$!
writer 1 1 2 & b=$!
wait $a || exit 1
wait $b || exit 1
i=0
while [ $i -lt $mb ]; do
  block $i > /tmp/want
  dd if=$disk of=/tmp/got bs=1M count=1 skip=$i iflag=direct 2>/dev/null || exit 1
  cmp -s /tmp/want /tmp/got || { echo "block $i differs"; exit 1; }
  i=$((i + 1))
done
echo "pattern verified over $mb MiB"
