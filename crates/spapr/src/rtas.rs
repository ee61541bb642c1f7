//! RTAS (Run-Time Abstraction Services): the guest calls the RTAS entry (a tiny code blob placed by
//! `instantiate-rtas`) with a big-endian argument buffer; the blob makes the KVMPPC_H_RTAS hcall and
//! we dispatch by token through one table. Each module exports its `RTAS` rows (name, handler); each
//! service's token is fixed in `crate::papr` and published in the /rtas device-tree node.

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::{Machine, RunState};
use ppc::Cpu;

/// The hcall number the RTAS blob uses (QEMU/KVM private range).
pub const KVMPPC_H_RTAS: u64 = 0xf000;

/// RTAS status codes.
pub const RTAS_OUT_SUCCESS: i32 = 0;
pub const RTAS_OUT_HW_ERROR: i32 = -1;
pub const RTAS_OUT_PARAM_ERROR: i32 = -3;
pub const RTAS_OUT_NOT_SUPPORTED: i32 = -3;

/// Most arguments + returns an RTAS buffer may carry (the buffer is 3 + 16 cells).
pub const MAX_CELLS: usize = 16;

/// One decoded RTAS call: its argument cells and room for the return cells.
#[derive(Debug)]
pub struct RtasCall {
    pub args: Vec<u32>,
    pub rets: Vec<u32>,
}

impl RtasCall {
    pub fn arg(&self, i: usize) -> Option<u32> {
        self.args.get(i).copied()
    }
    /// Sets return cell `i` if the caller asked for that many.
    pub fn set_ret(&mut self, i: usize, v: u32) {
        if let Some(r) = self.rets.get_mut(i) {
            *r = v;
        }
    }
    /// Sets the status (return cell 0).
    pub fn status(&mut self, s: i32) {
        self.set_ret(0, s as u32);
    }
}

pub type RtasFn = fn(&Machine, &mut Cpu, &mut RtasCall);

/// Every module's RTAS rows.
pub fn table() -> impl Iterator<Item = &'static (&'static str, RtasFn)> {
    [
        crate::vio::vty::RTAS,
        crate::vio::nvram::RTAS,
        crate::xics::RTAS,
        crate::vcpu::RTAS,
        crate::pci::RTAS,
        RTAS,
    ]
    .into_iter()
    .flat_map(|t| t.iter())
}

/// Token of the implemented RTAS service `name`, as published in /rtas.
pub fn token(name: &str) -> Option<u32> {
    table()
        .find(|(n, _)| *n == name)
        .and_then(|(n, _)| crate::papr::rtas_token(n))
}

/// The implemented services with their tokens.
pub fn tokens() -> impl Iterator<Item = (&'static str, u32)> {
    table().filter_map(|&(n, _)| crate::papr::rtas_token(n).map(|t| (n, t)))
}

/// The handler of token `tok`, if its service is implemented.
fn handler(tok: u32) -> Option<RtasFn> {
    let (name, _) = crate::papr::RTAS_TOKENS.iter().find(|&&(_, t)| t == tok)?;
    table().find(|(n, _)| n == name).map(|&(_, f)| f)
}

/// RTAS services of the machine itself (power, time, console, events, OS termination).
pub const RTAS: &[(&str, RtasFn)] = &[
    ("power-off", power_off),
    ("system-reboot", system_reboot),
    ("get-time-of-day", get_time_of_day),
    ("set-time-of-day", set_time_of_day),
    ("display-character", display_character),
    ("event-scan", event_scan),
    ("check-exception", check_exception),
    ("ibm,os-term", os_term),
    ("get-sensor-state", get_sensor_state),
    ("set-indicator", set_indicator),
];

/// Status of event-scan/check-exception when there is nothing to report.
pub const RTAS_OUT_NO_ERRORS_FOUND: i32 = 1;

fn power_off(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    if c.args.len() != 2 {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    c.status(RTAS_OUT_SUCCESS);
    m.request(RunState::PowerOff);
}

fn system_reboot(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    if !c.args.is_empty() {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    c.status(RTAS_OUT_SUCCESS);
    m.request(RunState::Reset);
}

/// The clock under the guest's time of day: host UTC, or with `-rtc clock=vm` the virtual
/// clock (`-icount`) counted from the `-rtc base=` date, as (seconds, nanoseconds).
fn rtc_clock(m: &Machine) -> (i64, u32) {
    if let (Some(c), Some(base)) = (&m.vclock, m.config.rtc_base) {
        if m.config.rtc_vm {
            let ns = c.ns();
            return (
                base + (ns / 1_000_000_000) as i64,
                (ns % 1_000_000_000) as u32,
            );
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() as i64, now.subsec_nanos())
}

/// The RTC clock plus the guest's offset (`-rtc base=`, then set-time-of-day).
fn guest_time(m: &Machine) -> (i64, u32) {
    let (secs, ns) = rtc_clock(m);
    let off = m.tod_offset.load(std::sync::atomic::Ordering::Relaxed);
    (secs + off, ns)
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

/// (year, month, day) -> days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn get_time_of_day(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    if c.rets.len() != 8 {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    let (secs, ns) = guest_time(m);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    c.status(RTAS_OUT_SUCCESS);
    for (i, v) in [
        y as u32,
        mo,
        d,
        (sod / 3600) as u32,
        (sod / 60 % 60) as u32,
        (sod % 60) as u32,
        ns,
    ]
    .into_iter()
    .enumerate()
    {
        c.set_ret(i + 1, v);
    }
}

fn set_time_of_day(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let a: Vec<u32> = (0..7).filter_map(|i| c.arg(i)).collect();
    if a.len() != 7
        || !(1..=12).contains(&a[1])
        || !(1..=31).contains(&a[2])
        || a[3] > 23
        || a[4] > 59
        || a[5] > 59
    {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    let want = days_from_civil(a[0] as i64, a[1], a[2]) * 86_400
        + a[3] as i64 * 3600
        + a[4] as i64 * 60
        + a[5] as i64;
    let now = rtc_clock(m).0;
    m.tod_offset
        .store(want - now, std::sync::atomic::Ordering::Relaxed);
    c.status(RTAS_OUT_SUCCESS);
}

fn display_character(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    match c.arg(0) {
        Some(ch) => {
            m.vty.write(&[ch as u8]);
            c.status(RTAS_OUT_SUCCESS);
        }
        None => c.status(RTAS_OUT_PARAM_ERROR),
    }
}

/// No error or event log entries are generated (no EPOW or hot-plug events yet).
fn event_scan(_m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    if c.args.len() != 4 {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    c.status(RTAS_OUT_NO_ERRORS_FOUND);
}

fn check_exception(_m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    if c.args.len() != 6 && c.args.len() != 7 {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    c.status(RTAS_OUT_NO_ERRORS_FOUND);
}

/// ibm,os-term(message): the OS is terminating (panic); the machine stops with the message.
fn os_term(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let Some(addr) = c.arg(0) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let mut msg = Vec::new();
    for i in 0..1024u64 {
        let mut b = [0u8];
        if !m.mem.read(addr as u64 + i, &mut b) || b[0] == 0 {
            break;
        }
        msg.push(b[0]);
    }
    c.status(RTAS_OUT_SUCCESS);
    m.request(RunState::Terminated(
        String::from_utf8_lossy(&msg).trim().to_string(),
    ));
}

/// No sensors (dynamic-reconfiguration connectors come with hotplug): every token is unsupported.
fn get_sensor_state(_m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    c.status(RTAS_OUT_NOT_SUPPORTED);
}

/// No indicators yet (they come with hotplug): every token is unsupported.
fn set_indicator(_m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    c.status(RTAS_OUT_NOT_SUPPORTED);
}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[(KVMPPC_H_RTAS, "KVMPPC_H_RTAS", h_rtas)];

/// KVMPPC_H_RTAS: r4 = real address of the argument buffer.
fn h_rtas(m: &Machine, cpu: &mut Cpu) -> i64 {
    let buf = cpu.gpr[4];
    let mem = &m.mem;
    // Inside RAM, every cell offset below is far from overflowing.
    if buf >= mem.size() {
        return H_PARAMETER;
    }
    let rd = |a: u64| -> Option<u32> {
        let mut b = [0u8; 4];
        mem.read(a, &mut b).then(|| u32::from_be_bytes(b))
    };
    let (Some(tok), Some(nargs), Some(nret)) = (rd(buf), rd(buf + 4), rd(buf + 8)) else {
        return H_PARAMETER;
    };
    let (nargs, nret) = (nargs as usize, nret as usize);
    if nargs + nret > MAX_CELLS {
        return H_PARAMETER;
    }
    let mut call = RtasCall {
        args: Vec::with_capacity(nargs),
        rets: vec![0; nret],
    };
    for i in 0..nargs {
        match rd(buf + 12 + 4 * i as u64) {
            Some(v) => call.args.push(v),
            None => return H_PARAMETER,
        }
    }
    match handler(tok) {
        Some(f) => f(m, cpu, &mut call),
        None => call.status(RTAS_OUT_NOT_SUPPORTED),
    }
    let rets_at = buf + 12 + 4 * nargs as u64;
    for (i, r) in call.rets.iter().enumerate() {
        if !mem.write(rets_at + 4 * i as u64, &r.to_be_bytes()) {
            return H_PARAMETER;
        }
    }
    H_SUCCESS
}

/// The RTAS entry blob, big-endian (RTAS is always entered in big-endian mode):
/// `mr r4,r3; lis r3,0; ori r3,r3,0xf000; sc 1; blr`.
pub const BLOB: [u32; 5] = [
    0x7c64_1b78,
    0x3c60_0000,
    0x6063_f000,
    0x4400_0022,
    0x4e80_0020,
];

/// Size the /rtas node advertises (`rtas-size`).
pub const RTAS_SIZE: u64 = 0x1000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine, rtas, RTAS_BUF};

    #[test]
    fn power_off_and_reboot_change_run_state() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            rtas(&m, &mut c, "power-off", &[0xffff_ffff, 0xffff_ffff], 1),
            [0]
        );
        assert_eq!(m.run_state(), RunState::PowerOff);
        let (m, _) = machine();
        assert_eq!(rtas(&m, &mut c, "system-reboot", &[], 1), [0]);
        assert_eq!(m.run_state(), RunState::Reset);
        // Wrong argument count: parameter error, state unchanged.
        let (m, _) = machine();
        assert_eq!(
            rtas(&m, &mut c, "power-off", &[], 1),
            [RTAS_OUT_PARAM_ERROR as u32]
        );
        assert_eq!(m.run_state(), RunState::Running);
    }

    #[test]
    fn calendar_conversions() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(2026, 11, 21), 20_778);
        for d in [-1000, 0, 59, 60, 10_000, 20_778, 100_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn time_of_day_set_then_get() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            rtas(&m, &mut c, "set-time-of-day", &[2001, 2, 3, 4, 5, 6, 0], 1),
            [0]
        );
        let r = rtas(&m, &mut c, "get-time-of-day", &[], 8);
        assert_eq!(&r[..5], &[0, 2001, 2, 3, 4]);
        assert!(r[5] <= 6, "minutes advance at most a little: {r:?}");
        // Out-of-range month.
        assert_eq!(
            rtas(&m, &mut c, "set-time-of-day", &[2001, 13, 3, 4, 5, 6, 0], 1),
            [RTAS_OUT_PARAM_ERROR as u32]
        );
    }

    #[test]
    fn os_term_and_display_character() {
        let (m, out) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            rtas(&m, &mut c, "display-character", &[b'Z' as u32], 1),
            [0]
        );
        assert_eq!(out.text(), "Z");
        assert!(m.mem.write(0x20000, b"Kernel panic - oops\0"));
        assert_eq!(rtas(&m, &mut c, "ibm,os-term", &[0x20000], 1), [0]);
        assert_eq!(
            m.run_state(),
            RunState::Terminated("Kernel panic - oops".into())
        );
    }

    #[test]
    fn event_scan_and_unsupported_sensors() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            rtas(&m, &mut c, "event-scan", &[0, 0, 0x30000, 2048], 1),
            [1]
        );
        assert_eq!(
            rtas(&m, &mut c, "get-sensor-state", &[9003, 0], 2)[0],
            RTAS_OUT_NOT_SUPPORTED as u32
        );
    }

    #[test]
    fn malformed_rtas_buffers() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        // Buffer outside RAM.
        assert_eq!(hcall(&m, &mut c, KVMPPC_H_RTAS, &[1 << 40]), H_PARAMETER);
        // nargs + nret beyond the buffer format.
        let words = [token("power-off").expect("tok"), 100, 100];
        let b: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert!(m.mem.write(RTAS_BUF, &b));
        assert_eq!(hcall(&m, &mut c, KVMPPC_H_RTAS, &[RTAS_BUF]), H_PARAMETER);
        // Unknown token: status -3 in the return cell.
        let words = [0x1234u32, 0, 1, 0];
        let b: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert!(m.mem.write(RTAS_BUF, &b));
        assert_eq!(hcall(&m, &mut c, KVMPPC_H_RTAS, &[RTAS_BUF]), H_SUCCESS);
        let mut r = [0u8; 4];
        assert!(m.mem.read(RTAS_BUF + 12, &mut r));
        assert_eq!(i32::from_be_bytes(r), RTAS_OUT_NOT_SUPPORTED);
        // A buffer at the very end of RAM whose return cell falls outside.
        let end = m.mem.size() - 12;
        let words = [token("system-reboot").expect("tok"), 0, 1];
        let b: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert!(m.mem.write(end, &b));
        assert_eq!(hcall(&m, &mut c, KVMPPC_H_RTAS, &[end]), H_PARAMETER);
    }
}
