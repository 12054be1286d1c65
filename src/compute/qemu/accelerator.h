// Which accelerator this host's QEMU can run a standard guest with: KVM
// only when it is proven to work, TCG otherwise. A /dev/kvm is not proof:
// some hosts have one that runs only special guests (kvm-pvm), where a stock
// kernel hangs after the firmware and -cpu host aborts.
#pragma once

#include <string>
#include <string_view>

#include "base/async.h"
#include "compute/qemu/qemu_command.h"

namespace tg::compute {

std::string_view AcceleratorName(Accelerator a);  // "kvm", "tcg"

// True if /proc/cpuinfo's text lists the vmx or svm flag (hardware
// virtualisation the stock KVM module needs).
bool CpuInfoHasVirtualization(std::string_view cpuinfo);

// Starts a QEMU with `accelerator` (KVM: with -cpu host) stopped before its
// first instruction (-S), asks query-status over QMP and quits it (killed if
// it does not exit): OK if it answered; else why not (it exited, with its
// last line of output, or never answered).
Task<Status> TrialQemu(Executor ex, std::string qemu_binary, Accelerator accelerator);

// KVM if /dev/kvm opens, the CPU has vmx or svm, and a trial QEMU
// (`-accel kvm -cpu host`, stopped with -S) starts and answers query-status
// over QMP; else TCG, with the reason logged. The trial is quit (or killed)
// before this returns.
Task<Accelerator> DetectAccelerator(Executor ex, std::string qemu_binary = "qemu-system-x86_64");

}  // namespace tg::compute
