//! PAPR (LoPAR) numbers the machine hands out, in one place. For now the RTAS tokens: each
//! service has a fixed token, so adding a service never renumbers the others (a guest keeps the
//! tokens it read from /rtas, and kexec'd kernels and saved states must find the same ones).
//! Services still to come (PCI, EEH, dynamic DMA windows, hotplug) have their tokens reserved.

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
