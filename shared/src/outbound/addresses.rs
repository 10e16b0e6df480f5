//! Which addresses a customer's URL may reach (SPEC §16): public unicast
//! only — every block of IANA's IPv4 and IPv6 special-purpose registries is
//! refused.

use std::net::IpAddr;

/// The IPv4 address a loopback spelled in IPv6 reaches (`::ffff:127.0.0.1`),
/// for the local stack's loopback allowance only: every other IPv4 address
/// wrapped in IPv6 is refused as the special-purpose address it is.
pub(super) fn loopback_v4(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if v4.is_loopback() => IpAddr::V4(v4),
            _ => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// A CIDR block: the first address's bits and the prefix length.
type Block<const N: usize> = ([u8; N], u8);

fn within<const N: usize>(octets: [u8; N], (network, prefix): Block<N>) -> bool {
    let bits = |bytes: [u8; N]| {
        bytes
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
    };
    let width = (N * 8) as u32;
    let shift = width - u32::from(prefix);
    let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
    (bits(octets) & mask) == (bits(network) & mask)
}

/// Every block of IANA's IPv4 special-purpose address registry (RFC 6890
/// and its updates), globally reachable or not, plus multicast: an address
/// in one of them is never a customer's server.
const SPECIAL_V4: &[Block<4>] = &[
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private (RFC 1918)
    ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (the instance metadata service)
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments (DS-Lite, PCP, TURN, NAT64 discovery)
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 31, 196, 0], 24), // AS112-v4
    ([192, 52, 193, 0], 24), // AMT
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
    ([192, 168, 0, 0], 16),  // private
    ([192, 175, 48, 0], 24), // direct delegation AS112
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and the limited broadcast address
];

/// The IPv6 blocks refused inside global unicast (`2000::/3`, the only
/// block allowed at all): IANA's IPv6 special-purpose registry entries that
/// fall there.
const SPECIAL_V6: &[Block<16>] = &[
    // IETF protocol assignments: Teredo (2001::/32), benchmarking
    // (2001:2::/48), AMT, AS112-v6, ORCHID, DRIP, the anycast /128s.
    ([0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 23),
    // documentation
    (
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        32,
    ),
    // 6to4: reaches the IPv4 address it embeds
    ([0x20, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 16),
    // direct delegation AS112
    (
        [
            0x26, 0x20, 0x00, 0x4f, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        48,
    ),
    // documentation (RFC 9637)
    ([0x3f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 20),
];

/// Whether `ip` is a public unicast address: in no IANA special-purpose
/// block (SPEC §16). IPv6 must be global unicast (`2000::/3`): that alone
/// refuses loopback, unspecified, IPv4-mapped (`::ffff:0:0/96`), -translated
/// (`::ffff:0:0:0/96`) and -compatible forms, both NAT64 prefixes
/// (`64:ff9b::/96`, `64:ff9b:1::/48`), discard (`100::/64`), SRv6
/// (`5f00::/16`), unique-local, link-local, site-local and multicast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !SPECIAL_V4.iter().any(|b| within(v4.octets(), *b)),
        IpAddr::V6(v6) => {
            let octets = v6.octets();
            within(
                octets,
                ([0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 3),
            ) && !SPECIAL_V6.iter().any(|b| within(octets, *b))
        }
    }
}
