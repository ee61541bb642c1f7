//! Receive segment coalescing: consecutive TCP/IPv4 segments of one stream, as libslirp emits
//! them (1500-byte frames), merged into one large frame that the guest takes as a single GSO
//! packet (virtio-net's GUEST_TSO4 with a partial checksum, what a tap with a vnet header hands
//! over). The guest's stack then runs once per 64 KiB instead of once per segment, which is
//! what costs emulated time. The rules are those of Linux's GRO (`tcp_gro_receive`): same
//! addresses, ports, ack, window, options and flags, in-order sequence numbers, every segment
//! but the last of the first one's size, and a PSH or a short segment ends the frame.

use crate::{fold, ones_sum};

const ETH: usize = 14;
const IP: usize = ETH;
/// TCP header: after an IPv4 header without options (others are never merged).
const TCP: usize = IP + 20;
/// The largest merged frame: an IPv4 datagram's limit.
pub const MAX_COALESCED: usize = ETH + 65_535;

const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// The frame being built.
#[derive(Clone, Copy, Debug, Default)]
pub struct Coalesced {
    /// Payload of every segment but the last (the first segment's).
    pub mss: u16,
    /// Segments merged so far; 0 or 1: a plain frame.
    pub segs: u16,
    /// No more may follow (PSH, a short segment, or a frame that is not a data segment).
    closed: bool,
}

/// A TCP/IPv4 data segment: its TCP header length and payload length.
fn parse(f: &[u8]) -> Option<(usize, usize)> {
    if f.len() < TCP + 20 || f[12..14] != [0x08, 0x00] || f[IP] != 0x45 {
        return None;
    }
    let tot = usize::from(u16::from_be_bytes([f[IP + 2], f[IP + 3]]));
    // Fragments, other protocols, and frames with padding or a length that lies stay alone.
    if ETH + tot != f.len() || f[IP + 6] & 0x3f != 0 || f[IP + 7] != 0 || f[IP + 9] != 6 {
        return None;
    }
    let thl = usize::from(f[TCP + 12] >> 4) * 4;
    if thl < 20 || TCP + thl > f.len() {
        return None;
    }
    // Only ACK, with or without PSH: SYN, FIN, RST, URG, ECE and CWR segments stay alone.
    if f[TCP + 13] & !PSH != ACK {
        return None;
    }
    let payload = f.len() - TCP - thl;
    (payload > 0).then_some((thl, payload))
}

fn seq(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[TCP + 4], f[TCP + 5], f[TCP + 6], f[TCP + 7]])
}

impl Coalesced {
    /// Starts with `acc`, a frame just received.
    pub fn start(acc: &[u8]) -> Coalesced {
        match parse(acc) {
            Some((_, payload)) if acc[TCP + 13] & PSH == 0 => Coalesced {
                mss: u16::try_from(payload).unwrap_or(u16::MAX),
                segs: 1,
                closed: false,
            },
            _ => Coalesced {
                mss: 0,
                segs: 1,
                closed: true,
            },
        }
    }

    /// Whether another frame may still be merged.
    pub fn open(&self) -> bool {
        !self.closed
    }

    /// Appends segment `next` to the frame in `acc[..len]` (`acc` is its buffer) if it continues
    /// the same stream; the frame's new length, or None (then nothing changed).
    pub fn merge(&mut self, acc: &mut [u8], len: usize, next: &[u8]) -> Option<usize> {
        if self.closed {
            return None;
        }
        let a = acc.get(..len)?;
        let (thl, payload) = parse(next)?;
        let (athl, apayload) = parse(a)?;
        let mss = usize::from(self.mss);
        let new_len = len + payload;
        let same = a[..ETH] == next[..ETH]
            // TOS, DF, TTL, protocol, addresses.
            && a[IP + 1] == next[IP + 1]
            && a[IP + 6] & 0x40 == next[IP + 6] & 0x40
            && a[IP + 8..IP + 10] == next[IP + 8..IP + 10]
            && a[IP + 12..IP + 20] == next[IP + 12..IP + 20]
            // Ports; ack; header length, flags (PSH aside) and window; options.
            && a[TCP..TCP + 4] == next[TCP..TCP + 4]
            && a[TCP + 8..TCP + 12] == next[TCP + 8..TCP + 12]
            && thl == athl
            && a[TCP + 13] & !PSH == next[TCP + 13] & !PSH
            && a[TCP + 14..TCP + 16] == next[TCP + 14..TCP + 16]
            && a[TCP + 20..TCP + thl] == next[TCP + 20..TCP + thl];
        let in_order = seq(next) == seq(a).wrapping_add(apayload as u32);
        if !same || !in_order || payload > mss || new_len > MAX_COALESCED.min(acc.len()) {
            return None;
        }
        acc[len..new_len].copy_from_slice(&next[TCP + thl..]);
        let tot = u16::try_from(new_len - ETH).ok()?;
        acc[IP + 2..IP + 4].copy_from_slice(&tot.to_be_bytes());
        acc[TCP + 13] |= next[TCP + 13] & PSH;
        ip_checksum(acc);
        self.segs += 1;
        self.closed = payload < mss || next[TCP + 13] & PSH != 0;
        Some(new_len)
    }

    /// Readies a merged frame `acc` for a GSO header: its TCP checksum field gets the
    /// pseudo-header sum (a partial checksum at TCP offset 16). The header length (Ethernet,
    /// IP and TCP) and the segment size for the header; None for a frame that stayed single.
    pub fn finish(&self, acc: &mut [u8]) -> Option<(u16, u16)> {
        if self.segs < 2 || acc.len() < TCP + 20 {
            return None;
        }
        let thl = usize::from(acc[TCP + 12] >> 4) * 4;
        let tcp_len = (acc.len() - TCP) as u64;
        let pseudo = fold(6 + tcp_len + ones_sum(&acc[IP + 12..IP + 20]));
        acc[TCP + 16..TCP + 18].copy_from_slice(&pseudo.to_be_bytes());
        Some(((TCP + thl) as u16, self.mss))
    }
}

/// Recomputes the IPv4 header checksum (20 bytes, no options).
fn ip_checksum(f: &mut [u8]) {
    f[IP + 10..IP + 12].fill(0);
    let c = !fold(ones_sum(&f[IP..IP + 20]));
    f[IP + 10..IP + 12].copy_from_slice(&c.to_be_bytes());
}

/// A TCP/IPv4 segment from 10.0.2.2:8080 to 10.0.2.15:49153 with valid checksums, ack 77 and
/// 12 bytes of options (timestamps): sequence number, flags, payload. For front ends' tests.
#[cfg(any(test, feature = "loopback"))]
pub fn test_segment(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; TCP + 32];
    f[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    f[6..12].copy_from_slice(&[0x52, 0x55, 10, 0, 2, 2]);
    f[12..14].copy_from_slice(&[8, 0]);
    f[IP] = 0x45;
    f[IP + 6] = 0x40;
    f[IP + 8] = 64;
    f[IP + 9] = 6;
    f[IP + 12..IP + 16].copy_from_slice(&[10, 0, 2, 2]);
    f[IP + 16..IP + 20].copy_from_slice(&[10, 0, 2, 15]);
    f[TCP..TCP + 4].copy_from_slice(&[0x1f, 0x90, 0xc0, 0x01]);
    f[TCP + 4..TCP + 8].copy_from_slice(&seq.to_be_bytes());
    f[TCP + 8..TCP + 12].copy_from_slice(&77u32.to_be_bytes());
    f[TCP + 12] = 8 << 4;
    f[TCP + 13] = flags;
    f[TCP + 14..TCP + 16].copy_from_slice(&[0xff, 0xff]);
    // Options: NOP, NOP, timestamps.
    f[TCP + 20..TCP + 24].copy_from_slice(&[1, 1, 8, 10]);
    f[TCP + 24..TCP + 28].copy_from_slice(&1234u32.to_be_bytes());
    f.extend_from_slice(payload);
    let tot = (f.len() - ETH) as u16;
    f[IP + 2..IP + 4].copy_from_slice(&tot.to_be_bytes());
    ip_checksum(&mut f);
    let tcp_len = (f.len() - TCP) as u64;
    let c = !fold(6 + tcp_len + ones_sum(&f[IP + 12..IP + 20]) + ones_sum(&f[TCP..]));
    f[TCP + 16..TCP + 18].copy_from_slice(&c.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{finish_checksum, Checksum, VNET_F_NEEDS_CSUM, VNET_HDR_LEN};
    use test_segment as seg;

    fn payload(n: usize, salt: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(7) ^ salt).collect()
    }

    /// Merges `segs` in order; the frame, its state.
    fn run(segs: &[Vec<u8>]) -> (Vec<u8>, Coalesced, usize) {
        let mut acc = vec![0u8; MAX_COALESCED];
        acc[..segs[0].len()].copy_from_slice(&segs[0]);
        let mut len = segs[0].len();
        let mut c = Coalesced::start(&segs[0]);
        let mut taken = 1;
        for s in &segs[1..] {
            match c.merge(&mut acc, len, s) {
                Some(n) => len = n,
                None => break,
            }
            taken += 1;
        }
        acc.truncate(len);
        (acc, c, taken)
    }

    #[test]
    fn merged_frame_is_the_stream_with_valid_checksums_once_completed() {
        let (p0, p1, p2) = (payload(1448, 1), payload(1448, 2), payload(300, 3));
        let segs = [
            seg(1000, ACK, &p0),
            seg(2448, ACK, &p1),
            seg(3896, ACK | PSH, &p2),
            seg(4196, ACK, &p0),
        ];
        let (mut f, c, taken) = run(&segs);
        assert_eq!(taken, 3, "the PSH segment ends the frame");
        assert_eq!(c.segs, 3);
        let want: Vec<u8> = [p0, p1, p2].concat();
        assert_eq!(&f[TCP + 32..], &want[..]);
        assert_eq!(f[TCP + 13], ACK | PSH);
        assert_eq!(ones_sum(&f[IP..IP + 20]) % 0xffff, 0, "IP header checksum");
        assert_eq!(
            u16::from_be_bytes([f[IP + 2], f[IP + 3]]) as usize,
            f.len() - ETH
        );
        let (hdr_len, mss) = c.finish(&mut f).expect("a GSO frame");
        assert_eq!((hdr_len, mss), ((TCP + 32) as u16, 1448));
        // Completing the partial checksum as a NIC would gives a valid TCP checksum.
        let mut hdr = [0u8; VNET_HDR_LEN];
        hdr[0] = VNET_F_NEEDS_CSUM;
        hdr[6..8].copy_from_slice(&(TCP as u16).to_le_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        assert!(matches!(finish_checksum(&hdr, &mut f), Checksum::Good));
        let tcp_len = (f.len() - TCP) as u64;
        assert_eq!(
            fold(6 + tcp_len + ones_sum(&f[IP + 12..IP + 20]) + ones_sum(&f[TCP..])),
            0xffff
        );
    }

    #[test]
    fn a_gap_a_different_ack_or_a_larger_segment_is_not_merged() {
        let p = payload(1000, 9);
        let first = seg(1, ACK, &p);
        let gap = seg(2000, ACK, &p);
        let mut other_ack = seg(1001, ACK, &p);
        other_ack[TCP + 8] ^= 1;
        let bigger = seg(1001, ACK, &payload(1001, 1));
        let fin = seg(1001, ACK | 0x01, &p);
        let mut other_port = seg(1001, ACK, &p);
        other_port[TCP + 1] ^= 1;
        let mut other_ts = seg(1001, ACK, &p);
        other_ts[TCP + 27] ^= 1;
        for next in [gap, other_ack, bigger, fin, other_port, other_ts] {
            let (f, c, taken) = run(&[first.clone(), next]);
            assert_eq!(taken, 1);
            assert_eq!(f, first, "an unmerged frame is left as it was");
            assert!(c.finish(&mut f.clone()).is_none());
        }
    }

    #[test]
    fn non_tcp_and_pure_acks_stay_alone_and_a_short_segment_closes() {
        let p = payload(500, 4);
        let ack_only = seg(1, ACK, &[]);
        assert!(!Coalesced::start(&ack_only).open());
        let mut udp = seg(1, ACK, &p);
        udp[IP + 9] = 17;
        assert!(!Coalesced::start(&udp).open());
        let mut frag = seg(1, ACK, &p);
        frag[IP + 6] |= 0x20;
        assert!(!Coalesced::start(&frag).open());
        // Truncated or lying lengths never index out of bounds.
        for cut in [0, 13, 33, 53, 60] {
            assert!(!Coalesced::start(&seg(1, ACK, &p)[..cut]).open());
        }
        let (_, c, taken) = run(&[seg(1, ACK, &p), seg(501, ACK, &p[..100]), seg(601, ACK, &p)]);
        assert_eq!((taken, c.segs), (2, 2));
        assert!(!c.open());
    }

    #[test]
    fn the_frame_stops_at_the_ip_limit() {
        let p = payload(1460, 5);
        let segs: Vec<Vec<u8>> = (0..60).map(|i| seg(1 + 1460 * i as u32, ACK, &p)).collect();
        let (f, c, taken) = run(&segs);
        assert!(f.len() <= MAX_COALESCED);
        assert_eq!(taken, (65_535 - 52) / 1460);
        assert_eq!(c.segs as usize, taken);
    }

    #[test]
    fn mangled_headers_never_panic_and_merge_only_the_payload() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..5000 {
            let p = payload(200 + (rnd() % 1300) as usize, rnd() as u8);
            let mut a = seg(5, ACK, &p);
            let mut b = seg(
                5 + p.len() as u32,
                ACK,
                &p[..(rnd() as usize % p.len()) + 1],
            );
            for _ in 0..rnd() % 3 {
                let i = rnd() as usize % (TCP + 32);
                a[i] ^= 1 << (rnd() % 8);
            }
            for _ in 0..rnd() % 3 {
                let i = rnd() as usize % (TCP + 32);
                b[i] ^= 1 << (rnd() % 8);
            }
            let cut = rnd() as usize % (b.len() + 1);
            let b = if rnd() % 4 == 0 { &b[..cut] } else { &b[..] };
            let mut acc = vec![0u8; a.len() + 1600];
            acc[..a.len()].copy_from_slice(&a);
            let mut c = Coalesced::start(&a);
            match c.merge(&mut acc, a.len(), b) {
                Some(n) => {
                    let thl = usize::from(b[TCP + 12] >> 4) * 4;
                    assert_eq!(&acc[a.len()..n], &b[TCP + thl..]);
                    assert_eq!(&acc[TCP..TCP + 13], &a[TCP..TCP + 13]);
                    assert!(c.finish(&mut acc[..n]).is_some());
                }
                None => assert_eq!(&acc[..a.len()], &a[..]),
            }
        }
    }
}
