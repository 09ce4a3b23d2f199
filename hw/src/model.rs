//! The performance model: what the engines would do on a real card, projected from the
//! cycle counts measured in co-simulation, the RTL's resource counts and the card's
//! datasheet figures, at a stated clock. Every input says where it comes from
//! ([`Source`]), so a reader can tell the measured from the estimated.
//!
//! MSM: one bucket engine per adder the card's DSPs allow (the RTL's tile count, one
//! DSP48E2 per 16×16 tile), the window width C the fastest of those whose buckets fit the
//! on-chip memory (a point occupies ceil(254 / C) cycles, one addition per window), the bases
//! resident in the card's memory (uploaded once, not counted), the scalars over PCIe, the
//! buckets back over PCIe and combined on the host.
//!
//! NTT: the data in the card's off-chip memory, log2(N) radix-2 passes of N/2 butterflies,
//! each pass reading and writing the whole vector; as built (one butterfly unit) and with as
//! many units as the DSPs and the off-chip bandwidth allow. Data over PCIe both ways.

use serde::Serialize;

/// Where a model input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Measured in co-simulation of this RTL.
    Simulated,
    /// Counted from the RTL (tiles, bits).
    Rtl,
    /// The vendor's datasheet or product brief.
    Datasheet,
    /// An estimate: not measured, not from a datasheet (the clock, the share of a part a
    /// design may use).
    Estimate,
    /// Measured on this machine (the host's part of the work).
    Host,
}

/// One input of the model, with its source.
#[derive(Debug, Clone, Serialize)]
pub struct Input {
    /// What it is.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// Where it comes from.
    pub source: Source,
}

/// An FPGA card, from its vendor's product brief.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Part {
    /// Short name, as `--part` takes it.
    pub name: &'static str,
    /// The card and its device.
    pub description: &'static str,
    /// DSP48E2 slices.
    pub dsp: u32,
    /// On-chip RAM (block RAM and UltraRAM), bytes.
    pub on_chip_bytes: u64,
    /// Off-chip memory bandwidth, bytes per second (HBM2 or DDR4).
    pub off_chip_bytes_per_s: f64,
    /// Host link bandwidth one way, bytes per second (PCIe, what a DMA sustains).
    pub pcie_bytes_per_s: f64,
}

/// The cards the model knows: AMD Alveo U55C (HBM2) and U250 (DDR4).
pub const PARTS: [Part; 2] = [
    Part {
        name: "u55c",
        description: "AMD Alveo U55C (XCU55C, 16 GB HBM2)",
        dsp: 9024,
        // 2016 × 36 Kib block RAM + 960 × 288 Kib UltraRAM.
        on_chip_bytes: (2016 * 36 + 960 * 288) * 1024 / 8,
        off_chip_bytes_per_s: 460e9,
        // PCIe Gen3 x16 (or Gen4 x8): about 12 GB/s sustained.
        pcie_bytes_per_s: 12e9,
    },
    Part {
        name: "u250",
        description: "AMD Alveo U250 (XCU250, 64 GB DDR4)",
        dsp: 12288,
        // 2688 × 36 Kib block RAM + 1280 × 288 Kib UltraRAM.
        on_chip_bytes: (2688 * 36 + 1280 * 288) * 1024 / 8,
        off_chip_bytes_per_s: 77e9,
        pcie_bytes_per_s: 12e9,
    },
];

/// DSP48E2 slices of one Montgomery multiplier in the RTL: 256 tiles for a·b, 136 for the
/// low half of T·p', 256 for m·p (`rtl/wide_mul.sv`, 16×16 tiles).
pub const DSP_PER_MULTIPLIER: u32 = 256 + 136 + 256;
/// Multipliers in the point adder (`rtl/g1_add_mixed.sv`).
pub const ADDER_MULTIPLIERS: u32 = 11;
/// Multipliers in one butterfly unit (`rtl/ntt_engine.sv`).
pub const BUTTERFLY_MULTIPLIERS: u32 = 1;
/// The share of a part's DSPs and on-chip RAM a design may take and still route (the
/// rest: the shell, the data movers, routing slack).
pub const USABLE_SHARE: f64 = 0.8;
/// Bytes of one bucket on chip: X, Y, Z.
pub const BUCKET_BYTES: u64 = 96;

/// What the model measured or was told, independent of the part.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Measured {
    /// Engine cycles per addition over an MSM, pipeline fill and bucket read-out excluded.
    pub cycles_per_addition: f64,
    /// NTT pass cycles per butterfly (each pass's pipeline drain included).
    pub cycles_per_butterfly: f64,
    /// Host seconds per projective G1 addition (the bucket combination).
    pub host_seconds_per_addition: f64,
    /// The clock, Hz.
    pub clock_hz: f64,
}

/// One MSM projection.
#[derive(Debug, Clone, Serialize)]
pub struct MsmProjection {
    /// The card.
    pub part: &'static str,
    /// log2 of the points.
    pub log_size: u32,
    /// Engines (adders) on the part.
    pub engines: u32,
    /// The window width chosen.
    pub window_bits: u32,
    /// The engines' seconds: additions, fill, bucket read-out.
    pub engine_s: f64,
    /// Scalars to the card, buckets back, seconds.
    pub pcie_s: f64,
    /// Bucket combination on the host, seconds.
    pub host_s: f64,
    /// All of it, one after the other (nothing overlapped), seconds.
    pub total_s: f64,
}

/// One NTT projection.
#[derive(Debug, Clone, Serialize)]
pub struct NttProjection {
    /// The card.
    pub part: &'static str,
    /// log2 of the length.
    pub log_size: u32,
    /// Butterfly units.
    pub units: u32,
    /// What bounds the units: `built` (the RTL has one), `dsp` or `bandwidth`.
    pub bound: &'static str,
    /// The passes' seconds.
    pub engine_s: f64,
    /// The data to the card and back, seconds.
    pub pcie_s: f64,
    /// Both, seconds.
    pub total_s: f64,
}

/// Windows of a C-bit digit over a 254-bit scalar.
fn windows(c: u32) -> u32 {
    254u32.div_ceil(c)
}

/// The MSM of 2^log_size points on `part`, at the window width that makes it fastest among
/// those whose buckets fit on chip (wider windows: fewer additions on the card, more on the
/// host); `None` where not one adder fits the part's DSPs.
pub fn msm(part: &Part, m: &Measured, log_size: u32) -> Option<MsmProjection> {
    let usable_dsp = part.dsp as f64 * USABLE_SHARE;
    let engines = (usable_dsp / (ADDER_MULTIPLIERS * DSP_PER_MULTIPLIER) as f64) as u32;
    if engines == 0 {
        return None;
    }
    let on_chip = part.on_chip_bytes as f64 * USABLE_SHARE;
    let fits = |c: u32| {
        (windows(c) as u64 * (1u64 << c) * BUCKET_BYTES) as f64 * engines as f64 <= on_chip
    };
    (4..=16)
        .filter(|&c| fits(c))
        .map(|c| msm_at(part, m, log_size, engines, c))
        .min_by(|a, b| a.total_s.total_cmp(&b.total_s))
}

/// The MSM of 2^log_size points on `engines` engines of `part` with C = `c`.
fn msm_at(part: &Part, m: &Measured, log_size: u32, engines: u32, c: u32) -> MsmProjection {
    let n = (1u64 << log_size) as f64;
    let nw = windows(c) as f64;
    let buckets = nw * (1u64 << c) as f64;
    // The points split between the engines; each engine's buckets read out at the end.
    let cycles = n * nw * m.cycles_per_addition / engines as f64 + buckets + 64.0;
    let engine_s = cycles / m.clock_hz;
    let pcie_s =
        (n * 32.0 + buckets * BUCKET_BYTES as f64 * engines as f64) / part.pcie_bytes_per_s;
    // Per engine and window: a running sum over 2^C buckets (2 additions each); the
    // engines' sums added first (one addition a bucket). One host thread.
    let host_s = buckets * (2.0 + (engines - 1) as f64) * m.host_seconds_per_addition;
    MsmProjection {
        part: part.name,
        log_size,
        engines,
        window_bits: c,
        engine_s,
        pcie_s,
        host_s,
        total_s: engine_s + pcie_s + host_s,
    }
}

/// The forward NTT of 2^log_size elements on `part`: as built (one butterfly unit), or
/// with as many units as the part allows.
pub fn ntt(part: &Part, m: &Measured, log_size: u32, as_built: bool) -> NttProjection {
    let n = (1u64 << log_size) as f64;
    // A butterfly reads two elements and writes two: 128 bytes a cycle a unit.
    let by_bandwidth = (part.off_chip_bytes_per_s / (128.0 * m.clock_hz)) as u32;
    let by_dsp = (part.dsp as f64 * USABLE_SHARE
        / (BUTTERFLY_MULTIPLIERS * DSP_PER_MULTIPLIER) as f64) as u32;
    let (units, bound) = match as_built {
        true => (1, "built"),
        false if by_dsp <= by_bandwidth => (by_dsp.max(1), "dsp"),
        false => (by_bandwidth.max(1), "bandwidth"),
    };
    let cycles = log_size as f64 * (n / 2.0) * m.cycles_per_butterfly / units as f64;
    let engine_s = cycles / m.clock_hz;
    let pcie_s = 2.0 * n * 32.0 / part.pcie_bytes_per_s;
    NttProjection {
        part: part.name,
        log_size,
        units,
        bound,
        engine_s,
        pcie_s,
        total_s: engine_s + pcie_s,
    }
}

/// The inputs behind the projections, each with its source.
pub fn inputs(m: &Measured) -> Vec<Input> {
    let mut v = vec![
        Input {
            name: "engine cycles per addition (2^10-point MSM, C = 8, adder latency 61)".into(),
            value: m.cycles_per_addition,
            unit: "cycles",
            source: Source::Simulated,
        },
        Input {
            name: "NTT pass cycles per butterfly (2^12 forward)".into(),
            value: m.cycles_per_butterfly,
            unit: "cycles",
            source: Source::Simulated,
        },
        Input {
            name: "host time per G1 addition (bucket combination)".into(),
            value: m.host_seconds_per_addition * 1e9,
            unit: "ns",
            source: Source::Host,
        },
        Input {
            name: "clock".into(),
            value: m.clock_hz / 1e6,
            unit: "MHz",
            source: Source::Estimate,
        },
        Input {
            name: "DSP48E2 per Montgomery multiplier (16×16 tiles)".into(),
            value: DSP_PER_MULTIPLIER as f64,
            unit: "DSP",
            source: Source::Rtl,
        },
        Input {
            name: "multipliers per point adder".into(),
            value: ADDER_MULTIPLIERS as f64,
            unit: "",
            source: Source::Rtl,
        },
        Input {
            name: "usable share of a part's DSPs and RAM".into(),
            value: USABLE_SHARE,
            unit: "",
            source: Source::Estimate,
        },
    ];
    for p in &PARTS {
        v.push(Input {
            name: format!("{}: DSP48E2", p.description),
            value: p.dsp as f64,
            unit: "DSP",
            source: Source::Datasheet,
        });
        v.push(Input {
            name: format!("{}: on-chip RAM", p.description),
            value: p.on_chip_bytes as f64 / (1u64 << 20) as f64,
            unit: "MiB",
            source: Source::Datasheet,
        });
        v.push(Input {
            name: format!("{}: off-chip bandwidth", p.description),
            value: p.off_chip_bytes_per_s / 1e9,
            unit: "GB/s",
            source: Source::Datasheet,
        });
        v.push(Input {
            name: format!("{}: PCIe, one way, sustained", p.description),
            value: p.pcie_bytes_per_s / 1e9,
            unit: "GB/s",
            source: Source::Estimate,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Measured {
        Measured {
            cycles_per_addition: 1.0,
            cycles_per_butterfly: 1.0,
            host_seconds_per_addition: 1e-6,
            clock_hz: 250e6,
        }
    }

    #[test]
    fn an_msm_takes_a_cycle_per_window_and_point_on_each_engine() {
        let m = measured();
        let u250 = &PARTS[1];
        let p = msm(u250, &m, 24).expect("an adder fits a U250");
        assert_eq!(p.engines, 1, "7128 DSPs of 9830 usable");
        // The fastest window among those whose buckets fit 80% of the U250's RAM.
        let nw = windows(p.window_bits) as f64;
        let fits = |c: u32| {
            (windows(c) as u64 * (1 << c) * BUCKET_BYTES) as f64
                <= u250.on_chip_bytes as f64 * USABLE_SHARE
        };
        assert!(fits(p.window_bits));
        for c in (4..=16).filter(|&c| fits(c)) {
            assert!(msm_at(u250, &m, 24, 1, c).total_s >= p.total_s, "C = {c}");
        }
        assert!(!fits(16), "the RAM bounds the window");
        let additions = (1u64 << 24) as f64 * nw;
        assert!(p.engine_s >= additions / 250e6 && p.engine_s < additions / 250e6 * 1.01);
        assert!((p.total_s - (p.engine_s + p.pcie_s + p.host_s)).abs() < 1e-12);
        // Twice the cycles per addition at the same window, about twice the engine's time.
        let slow_m = Measured {
            cycles_per_addition: 2.0,
            ..m
        };
        let slow = msm_at(u250, &slow_m, 24, 1, p.window_bits);
        assert!((slow.engine_s / p.engine_s - 2.0).abs() < 0.01);
    }

    #[test]
    fn ntt_units_are_bounded_by_dsps_or_bandwidth() {
        let m = measured();
        let built = ntt(&PARTS[0], &m, 24, true);
        assert_eq!((built.units, built.bound), (1, "built"));
        assert!((built.engine_s - 24.0 * (1u64 << 23) as f64 / 250e6).abs() < 1e-9);
        // HBM carries 14 units' traffic, the DSPs allow 11: DSP-bound.
        let u55c = ntt(&PARTS[0], &m, 24, false);
        assert_eq!((u55c.units, u55c.bound), (11, "dsp"));
        // DDR4 carries 2.
        let u250 = ntt(&PARTS[1], &m, 24, false);
        assert_eq!((u250.units, u250.bound), (2, "bandwidth"));
        assert!(u250.engine_s > u55c.engine_s);
    }
}
