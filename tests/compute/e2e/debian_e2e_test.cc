// A real Debian 12 instance end to end: the image that
// tests/guest/build-debian-image makes as a user's cloud image would be
// (systemd, openssh-server, cloud-init) is imported, and an instance of it
// boots through the firmware (SeaBIOS, then the image's own GRUB) from its
// distributed volume to multi-user. cloud-init reads the metadata service
// through its AliYun datasource: it sets the hostname given at create and
// installs the key pair's public key for the user `debian`. An instance of
// the small image on another host in the same VPC then logs in to it by SSH
// (Dropbear's dbclient) with the private key, and the remote `hostname`
// answers with the metadata's hostname.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "compute/e2e/instance_fixture.h"

namespace tg::testing {
namespace {

// Runs a tool of this machine to its end; its output goes to `log`.
Status RunTool(std::vector<std::string> argv, const std::string& log, Duration timeout) {
  const std::string what = argv.at(0);
  auto p = ChildProcess::Spawn({.argv = std::move(argv), .output_path = log});
  if (!p.ok()) return p.status();
  auto st = p->Wait(timeout);
  if (!st.ok()) return st.status();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return Internal("{} failed: {}", what, ReadFile(log));
  return Status::Ok();
}

// The Debian 12 image, built once (a few minutes the first time).
Result<std::string> BuildDebianImage(const std::string& log) {
  const std::string image = std::string(TG_BUILD_DIR) + "/guest/debian-12.qcow2";
  TG_RETURN_IF_ERROR(
      RunTool({std::string(TG_SOURCE_DIR) + "/tests/guest/build-debian-image", image}, log,
              std::chrono::seconds(600)));
  return image;
}

std::string Base64(const std::string& bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kDigits[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += kDigits[(v >> 18) & 63];
    out += kDigits[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kDigits[(v >> 18) & 63];
    out += kDigits[(v >> 12) & 63];
    out += kDigits[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

TEST_F(InstanceEndToEnd, DebianBootsTakesHostnameAndKeyFromMetadataAndIsReachedBySsh) {
  const std::string dir = cluster_.dir();
  auto debian_file = BuildDebianImage(dir + "/debian-build.log");
  ASSERT_OK(debian_file.status());
  auto debian =
      RunTask(io_, cluster_.CliId({"image", "import", "debian-12", *debian_file, "--platform",
                                   "Debian", "--os-name", "Debian 12 64-bit"}));
  ASSERT_OK(debian.status());

  // A key pair of our own: OpenSSH's format for the cloud, Dropbear's for
  // the client in the small image.
  const std::string key = dir + "/id_ed25519";
  ASSERT_OK(
      RunTool({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tiangong-e2e", "-f", key},
              dir + "/ssh-keygen.log", 30s));
  ASSERT_OK(RunTool({"dropbearconvert", "openssh", "dropbear", key, key + ".dropbear"},
                    dir + "/dropbearconvert.log", 30s));
  ASSERT_OK(RunTask(io_, cluster_.Cli(
                             {"keypair", "import", "e2e-key", "--public-key-file", key + ".pub"}))
                .status());

  auto ds = RunTask(io_, cluster_.CliId({"deployment-set", "create", "spread"}));
  ASSERT_OK(ds.status());
  const std::string hostname = "debian-e2e";
  auto id = RunTask(
      io_, cluster_.CliId({"instance", "create", "--type", "ecs.t6-c1m1.large", "--image", *debian,
                           "--vswitch", net_.vswitch, "--sg", net_.sg, "--key-pair", "e2e-key",
                           "--hostname", hostname, "--deployment-set", *ds}));
  ASSERT_OK(id.status());
  auto inst = RunTask(io_, cluster_.WaitForStatus(*id, InstanceStatus::kRunning, 180s));
  ASSERT_OK(inst.status());
  const std::string run = RunDirOf(*inst);
  const std::string ip = IpOf(*inst);

  // The firmware ran the image's GRUB, the kernel booted, systemd reached
  // multi-user and getty asks for a login under the metadata's hostname.
  ASSERT_TRUE(WaitForConsole(run, "Reached target", 300s)) << Diagnose(*inst);
  ASSERT_TRUE(WaitForConsole(run, hostname + " login:", 300s)) << Diagnose(*inst);
  const std::string log = ConsoleLog(run);
  EXPECT_NE(log.find("Debian GNU/Linux 12"), std::string::npos) << log;
  EXPECT_NE(log.find("Cloud-init"), std::string::npos) << "cloud-init did not run:\n" << log;

  // The small image, on the other host, logs in with the key.
  const std::string client = Create({"--deployment-set", *ds});
  ASSERT_FALSE(client.empty());
  compute::Instance ci = Boot(client);
  ASSERT_FALSE(ci.id.empty());
  EXPECT_NE(ci.host, inst->host);
  auto console = GuestConsole::Connect(RunDirOf(ci), 10s);
  ASSERT_OK(console.status());
  auto copied = console->Run("echo " + Base64(ReadFile(key + ".dropbear")) +
                                 " | base64 -d > /root/key && chmod 600 /root/key",
                             30s);
  ASSERT_OK(copied.status());
  ASSERT_NE(copied->find("TG-EXIT 0"), std::string::npos) << *copied;

  // sshd may still be starting after getty: try for a while.
  std::string answer;
  bool logged_in = false;
  for (int attempt = 0; attempt < 12 && !logged_in; ++attempt) {
    auto ssh = console->Run(
        "timeout 60 dbclient -y -i /root/key debian@" + ip + " hostname </dev/null", 90s);
    ASSERT_OK(ssh.status());
    answer = *ssh;
    logged_in = answer.find("TG-EXIT 0") != std::string::npos &&
                answer.find(hostname + "\r\n") != std::string::npos;
    if (!logged_in) std::this_thread::sleep_for(5s);
  }
  EXPECT_TRUE(logged_in) << "dbclient said:\n" << answer << "\n" << Diagnose(*inst);
}

}  // namespace
}  // namespace tg::testing
