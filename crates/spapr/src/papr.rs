//! PAPR (LoPAR) numbers, in one place: hypercall numbers and return codes, and the RTAS tokens.
//! Each RTAS service has a fixed token, so adding a service never renumbers the others (a guest
//! keeps the tokens it read from /rtas, and kexec'd kernels and saved states must find the same
//! ones). Services still to come (PCI, EEH, dynamic DMA windows, hotplug) have theirs reserved.

/// The token of every RTAS service lpar has or will have. Only implemented services
/// (`crate::rtas::table`) are published in /rtas and answered; the others are "not supported".
pub const RTAS_TOKENS: &[(&str, u32)] = &[
    ("display-character", 0x2000),
    ("get-time-of-day", 0x2001),
    ("set-time-of-day", 0x2002),
    ("power-off", 0x2003),
    ("system-reboot", 0x2004),
    ("query-cpu-stopped-state", 0x2005),
    ("start-cpu", 0x2006),
    ("stop-self", 0x2007),
    ("ibm,get-system-parameter", 0x2008),
    ("ibm,set-system-parameter", 0x2009),
    ("ibm,set-xive", 0x200a),
    ("ibm,get-xive", 0x200b),
    ("ibm,int-off", 0x200c),
    ("ibm,int-on", 0x200d),
    ("check-exception", 0x200e),
    ("event-scan", 0x200f),
    ("ibm,set-tce-bypass", 0x2010),
    ("quiesce", 0x2011),
    ("nvram-fetch", 0x2012),
    ("nvram-store", 0x2013),
    ("read-pci-config", 0x2014),
    ("write-pci-config", 0x2015),
    ("ibm,read-pci-config", 0x2016),
    ("ibm,write-pci-config", 0x2017),
    ("ibm,query-interrupt-source-number", 0x2018),
    ("ibm,change-msi", 0x2019),
    ("set-indicator", 0x201a),
    ("set-power-level", 0x201b),
    ("get-power-level", 0x201c),
    ("get-sensor-state", 0x201d),
    ("ibm,configure-connector", 0x201e),
    ("ibm,os-term", 0x201f),
    ("ibm,set-eeh-option", 0x2020),
    ("ibm,get-config-addr-info", 0x2021),
    ("ibm,get-config-addr-info2", 0x2022),
    ("ibm,read-slot-reset-state", 0x2023),
    ("ibm,read-slot-reset-state2", 0x2024),
    ("ibm,set-slot-reset", 0x2025),
    ("ibm,configure-pe", 0x2026),
    ("ibm,slot-error-detail", 0x2027),
    ("ibm,query-pe-dma-window", 0x2028),
    ("ibm,create-pe-dma-window", 0x2029),
    ("ibm,remove-pe-dma-window", 0x202a),
    ("ibm,reset-pe-dma-window", 0x202b),
    ("ibm,nmi-register", 0x202c),
    ("ibm,nmi-interlock", 0x202d),
];

/// The fixed token of RTAS service `name`.
pub fn rtas_token(name: &str) -> Option<u32> {
    RTAS_TOKENS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, t)| t)
}

/// Hypercall return codes (r3 after `sc 1`).
pub const H_SUCCESS: i64 = 0;
pub const H_BUSY: i64 = 1;
pub const H_HARDWARE: i64 = -1;
pub const H_FUNCTION: i64 = -2;
pub const H_PRIVILEGE: i64 = -3;
pub const H_PARAMETER: i64 = -4;
pub const H_BAD_MODE: i64 = -5;
pub const H_PTEG_FULL: i64 = -6;
pub const H_NOT_FOUND: i64 = -7;
pub const H_RESERVED_DABR: i64 = -8;
pub const H_NO_MEM: i64 = -9;
pub const H_AUTHORITY: i64 = -10;
pub const H_PERMISSION: i64 = -11;
pub const H_DROPPED: i64 = -12;
pub const H_RESOURCE: i64 = -16;
pub const H_CLOSED: i64 = -34;
pub const H_NOT_AVAILABLE: i64 = -40;
pub const H_P2: i64 = -55;
pub const H_P3: i64 = -56;
pub const H_P4: i64 = -57;
pub const H_UNSUPPORTED_FLAG: i64 = -256;

/// Hypercall numbers (r3 before `sc 1`). The modules that serve them re-export theirs; the
/// ones without a handler yet are named for the hypertas sets in `crate::fdt`.
pub const H_REMOVE: u64 = 0x04;
pub const H_ENTER: u64 = 0x08;
pub const H_READ: u64 = 0x0c;
pub const H_CLEAR_MOD: u64 = 0x10;
pub const H_CLEAR_REF: u64 = 0x14;
pub const H_PROTECT: u64 = 0x18;
pub const H_BULK_REMOVE: u64 = 0x124;
pub const H_RESIZE_HPT_PREPARE: u64 = 0x36c;
pub const H_RESIZE_HPT_COMMIT: u64 = 0x370;
pub const H_REGISTER_PROC_TBL: u64 = 0x37c;
pub const H_LOGICAL_CI_LOAD: u64 = 0x3c;
pub const H_LOGICAL_CI_STORE: u64 = 0x40;
pub const H_SET_DABR: u64 = 0x28;
pub const H_REGISTER_VPA: u64 = 0xdc;
pub const H_CEDE: u64 = 0xe0;
pub const H_CONFER: u64 = 0xe4;
pub const H_PROD: u64 = 0xe8;
pub const H_SET_XDABR: u64 = 0x134;
pub const H_GET_CPU_CHARACTERISTICS: u64 = 0x1c8;
pub const H_SET_MODE: u64 = 0x31c;
pub const H_VIO_SIGNAL: u64 = 0x104;
pub const H_GET_TERM_CHAR: u64 = 0x54;
pub const H_PUT_TERM_CHAR: u64 = 0x58;
pub const H_RANDOM: u64 = 0x300;
/// VIO: command/response queues (vscsi, vtpm) and RDMA between DMA windows.
pub const H_REG_CRQ: u64 = 0xfc;
pub const H_FREE_CRQ: u64 = 0x100;
pub const H_SEND_CRQ: u64 = 0x108;
pub const H_COPY_RDMA: u64 = 0x110;
pub const H_ENABLE_CRQ: u64 = 0x2b0;
/// VIO: the interpartition logical LAN (spapr-vlan, Linux's ibmveth).
pub const H_REGISTER_LOGICAL_LAN: u64 = 0x114;
pub const H_FREE_LOGICAL_LAN: u64 = 0x118;
pub const H_ADD_LOGICAL_LAN_BUFFER: u64 = 0x11c;
pub const H_SEND_LOGICAL_LAN: u64 = 0x120;
pub const H_MULTICAST_CTRL: u64 = 0x130;
pub const H_CHANGE_LOGICAL_LAN_MAC: u64 = 0x14c;
pub const H_EOI: u64 = 0x64;
pub const H_CPPR: u64 = 0x68;
pub const H_IPI: u64 = 0x6c;
pub const H_IPOLL: u64 = 0x70;
pub const H_XIRR: u64 = 0x74;
pub const H_XIRR_X: u64 = 0x2fc;
pub const H_GET_TCE: u64 = 0x1c;
pub const H_PUT_TCE: u64 = 0x20;
pub const H_SET_SPRG0: u64 = 0x24;
pub const H_PAGE_INIT: u64 = 0x2c;
/// LoPAR numbers (Linux hvcall.h agrees): STUFF is 0x138, PUT_INDIRECT 0x13c.
pub const H_PUT_TCE_INDIRECT: u64 = 0x13c;
pub const H_STUFF_TCE: u64 = 0x138;
pub const H_JOIN: u64 = 0x298;
pub const H_HOME_NODE_ASSOCIATIVITY: u64 = 0x2ec;
pub const H_RPT_INVALIDATE: u64 = 0x448;
pub const H_WATCHDOG: u64 = 0x45c;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtas_tokens_are_unique_and_every_implemented_service_has_one() {
        for (i, (n, t)) in RTAS_TOKENS.iter().enumerate() {
            for (m, u) in &RTAS_TOKENS[i + 1..] {
                assert_ne!(n, m, "{n} listed twice");
                assert_ne!(t, u, "{n} and {m} share a token");
            }
        }
        for (name, _) in crate::rtas::table() {
            assert!(rtas_token(name).is_some(), "{name} has no fixed token");
        }
        // Tokens a guest may have kept: they must never move.
        assert_eq!(rtas_token("power-off"), Some(0x2003));
        assert_eq!(rtas_token("nvram-store"), Some(0x2013));
        assert_eq!(rtas_token("ibm,change-msi"), Some(0x2019));
    }
}
