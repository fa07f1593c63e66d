//! The resource quantities of a container spec's `resources` map, as upstream reads them:
//! `memory` / `memoryRequest` are an integer with an optional `k`, `m`, `g` or `t` (and an
//! optional `b`), 1024-based; `cpu` is cores (a CPU quota over a 100 ms period); `cpuRequest` is
//! cores as CPU shares (1 core = 1024). Bad quantities are errors, never zero.

/// A quantity that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resources.{key}: {value:?} is not {expected}")]
pub struct QuantityError {
    /// The `resources` key.
    pub key: String,
    /// What it held.
    pub value: String,
    /// What it should be.
    pub expected: &'static str,
}

/// The CPU period the quota is given over (µs), as upstream.
pub const CPU_PERIOD: i64 = 100_000;

/// Bytes of `512m`, `1g`, `64kb`, `1024` (1024-based, case-insensitive).
///
/// # Errors
/// Not an integer with an optional unit, or more than `i64::MAX` bytes.
///
/// ```
/// assert_eq!(podengine_core::quantity::memory_bytes("memory", "512m"), Ok(512 << 20));
/// assert_eq!(podengine_core::quantity::memory_bytes("memory", "2Gb"), Ok(2 << 30));
/// ```
pub fn memory_bytes(key: &str, value: &str) -> Result<i64, QuantityError> {
    let err = || QuantityError { key: key.to_owned(), value: value.to_owned(), expected: "an integer with k/m/g/t[b]" };
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').unwrap_or(&v);
    let (digits, shift) = match v.as_bytes().last() {
        Some(b'k') => (&v[..v.len() - 1], 10),
        Some(b'm') => (&v[..v.len() - 1], 20),
        Some(b'g') => (&v[..v.len() - 1], 30),
        Some(b't') => (&v[..v.len() - 1], 40),
        _ => (v, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: i64 = digits.parse().map_err(|_| err())?;
    n.checked_mul(1i64 << shift).ok_or_else(err)
}

fn cores(key: &str, value: &str) -> Result<f64, QuantityError> {
    let err = || QuantityError { key: key.to_owned(), value: value.to_owned(), expected: "a positive number of cores" };
    let c: f64 = value.trim().parse().map_err(|_| err())?;
    if !c.is_finite() || c <= 0.0 || c > 1e6 {
        return Err(err());
    }
    Ok(c)
}

/// The CPU quota (µs per [`CPU_PERIOD`]) of `cpu: <cores>`.
///
/// # Errors
/// Not a positive number.
///
/// ```
/// assert_eq!(podengine_core::quantity::cpu_quota("cpu", "0.5"), Ok(50_000));
/// ```
pub fn cpu_quota(key: &str, value: &str) -> Result<i64, QuantityError> {
    Ok((cores(key, value)? * CPU_PERIOD as f64).round() as i64)
}

/// The CPU shares of `cpuRequest: <cores>` (1 core = 1024).
///
/// # Errors
/// Not a positive number.
///
/// ```
/// assert_eq!(podengine_core::quantity::cpu_shares("cpuRequest", "0.25"), Ok(256));
/// ```
pub fn cpu_shares(key: &str, value: &str) -> Result<i64, QuantityError> {
    Ok((cores(key, value)? * 1024.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units() {
        assert_eq!(memory_bytes("m", "1024"), Ok(1024));
        assert_eq!(memory_bytes("m", "1k"), Ok(1024));
        assert_eq!(memory_bytes("m", "1KB"), Ok(1024));
        assert_eq!(memory_bytes("m", "3t"), Ok(3 << 40));
        for bad in ["", "m", "-1m", "1.5g", "1x", "1mm", "99999999999999t"] {
            assert!(memory_bytes("memory", bad).is_err(), "{bad}");
        }
        assert_eq!(cpu_quota("cpu", "2"), Ok(200_000));
        for bad in ["", "0", "-1", "NaN", "inf", "x"] {
            assert!(cpu_quota("cpu", bad).is_err(), "{bad}");
            assert!(cpu_shares("cpuRequest", bad).is_err(), "{bad}");
        }
        let e = memory_bytes("memoryRequest", "lots").unwrap_err();
        assert_eq!(e.to_string(), "resources.memoryRequest: \"lots\" is not an integer with k/m/g/t[b]");
    }

    proptest! {
        #[test]
        fn any_string_parses_or_errors(s in ".{0,24}") {
            let _ = memory_bytes("memory", &s);
            let _ = cpu_quota("cpu", &s);
            let _ = cpu_shares("cpuRequest", &s);
        }

        #[test]
        fn every_unit_scales_by_1024(n in 0i64..1_000_000, u in 0usize..5) {
            let (suffix, shift) = [("", 0), ("k", 10), ("m", 20), ("g", 30), ("t", 40)][u];
            prop_assert_eq!(memory_bytes("memory", &format!("{n}{suffix}")), Ok(n << shift));
            prop_assert_eq!(memory_bytes("memory", &format!("{n}{}B", suffix.to_uppercase())), Ok(n << shift));
        }
    }
}
