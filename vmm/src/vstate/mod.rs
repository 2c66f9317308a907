//! KVM state: the VM (memory slots, irqchip) and its vCPUs (registers, run loops).

pub mod vcpu;
pub mod vm;
