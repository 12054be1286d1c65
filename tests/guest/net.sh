# The guest's NIC (virtio-net, served by the vSwitch over vhost-user): an
# address and default route by DHCP, then pings the address given as
# tg.ping=A.B.C.D on the kernel command line.
target=$(sed -n 's/.*tg\.ping=\([0-9.]*\).*/\1/p' /proc/cmdline)
ip link set lo up
ip link set eth0 up || { echo "no eth0"; exit 1; }
echo "queues: $(ls /sys/class/net/eth0/queues | tr '\n' ' ')"
cat > /tmp/dhcp.sh <<'SCRIPT'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
for r in $router; do ip route add default via "$r"; done
echo "dhcp: $ip/$mask router $router mtu $mtu"
SCRIPT
chmod +x /tmp/dhcp.sh
udhcpc -i eth0 -n -q -t 10 -T 1 -s /tmp/dhcp.sh || { echo "no DHCP answer"; exit 1; }
ip -4 addr show eth0
ping -c 3 -W 2 "$target" || exit 1
# Both queue pairs carry traffic: a second flow from the other CPU.
taskset -c 1 ping -c 2 -W 2 "$target" || exit 1
# tg.fetch=URL: download it over TCP; say its md5 and how many frames it
# came in (with offloads, far fewer than its size over the MSS).
frames() { cat /sys/class/net/eth0/statistics/$1_packets; }
fetch=$(sed -n 's/.*tg\.fetch=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$fetch" ]; then
  rx=$(frames rx)
  wget -q -O /tmp/fetched "$fetch" 2>/tmp/wget.err || { echo "fetch failed: $(tail -c 300 /tmp/wget.err)"; exit 1; }
  echo "TG-GUEST: fetched $(md5sum < /tmp/fetched | cut -d' ' -f1) $(wc -c < /tmp/fetched) bytes in $(( $(frames rx) - rx )) frames"
fi
# tg.serve=KIB: serve that many random KiB over HTTP on port 8080 while
# holding (below); say its md5, and after the hold how many frames went out.
serve=$(sed -n 's/.*tg\.serve=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$serve" ]; then
  mkdir -p /www
  dd if=/dev/urandom of=/www/data bs=1024 count="$serve" 2>/dev/null
  httpd -p 8080 -h /www
  tx_before=$(frames tx)
  echo "TG-GUEST: serving $(md5sum < /www/data | cut -d' ' -f1)"
fi
# tg.hold=N: go on pinging for N seconds (the test restarts the vSwitch
# meanwhile), then say how many pings were lost; the last must pass.
hold=$(sed -n 's/.*tg\.hold=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$hold" ] || exit 0
echo "TG-GUEST: holding"
lost=0
last=ok
end=$(( $(date +%s) + hold ))
while [ "$(date +%s)" -lt $end ]; do
  if ping -c 1 -W 1 "$target" >/dev/null 2>&1; then last=ok; else lost=$((lost + 1)); last=lost; fi
  usleep 200000
done
echo "TG-GUEST: lost $lost"
[ -n "$serve" ] && echo "TG-GUEST: sent in $(( $(frames tx) - tx_before )) frames"
[ $last = ok ]
