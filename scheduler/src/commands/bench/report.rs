//! `fornax bench report DIR --out OUT`: every result file in `DIR` drawn as SVG (`plotters`,
//! no Python), and one `index.html` that shows the figures with the machine, commit and
//! command of each, so that a reader sees in one page where Fornax stands.
//!
//! What is drawn, by the shape of a result file:
//! - kernel runs (`fornax bench --json`: rows of `bench`, `log_size`, `fornax_s`,
//!   `baseline_s`): time against size on log axes, Fornax and its baseline as lines, one
//!   figure per kernel, and the speed-ups as bars;
//! - whole-process comparisons (`fornax bench prove --json`): with several peers and sizes,
//!   wall time against domain size with every prover as a line, and Fornax's speed-up over
//!   each; files of one other prover (older runs) as median wall times side by side per
//!   circuit, with the ratios of time and of peak memory;
//! - scaling curves (`fornax bench cluster --json`): per circuit size, proofs per second
//!   and p99 latency against offered load, one line per worker count; `fornax bench fhe
//!   --blocks`: KS-PBS per second against batch size, the engine and tfhe-rs;
//! - anything else (FHE, queue, API, split runs) is listed with its numbers, not drawn.
//!
//! A file that is not JSON is named in the page and skipped. Files come newest first (their
//! names start with their date).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde_json::Value;

/// Where the results are and where the report goes.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The folder of result files (`*.json`), e.g. `bench/results`.
    dir: PathBuf,
    /// The folder to write `index.html` and the figures to (created if needed).
    #[arg(long)]
    out: PathBuf,
}

/// One figure of the page.
struct Figure {
    /// Its SVG file, relative to the page.
    file: String,
    title: String,
    /// The headline number (a ratio), already worded.
    headline: String,
    /// Where it comes from: machine, commit, command, result file.
    provenance: String,
}

impl Figure {
    /// A figure drawn from result file `file` (parsed as `doc`).
    fn new(file_svg: String, title: String, headline: String, doc: &Value, file: &str) -> Self {
        Figure {
            file: file_svg,
            title,
            headline,
            provenance: provenance(doc, file),
        }
    }
}

/// Runs `fornax bench report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("reading {}", args.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    // Newest first: result files are named by date.
    files.sort();
    files.reverse();
    let mut figures = Vec::new();
    let mut listed = Vec::new();
    let mut skipped = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let doc: Value = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(doc) => doc,
            Err(e) => {
                skipped.push(format!("{name}: {e}"));
                continue;
            }
        };
        let stem = name.trim_end_matches(".json").to_string();
        let before = figures.len();
        if doc["bench"] == "cluster" {
            figures.extend(cluster_figures(&args.out, &stem, &name, &doc)?);
        } else if doc["bench"] == "fhe-scaling" {
            figures.push(fhe_scaling_figure(&args.out, &stem, &name, &doc)?);
        } else if let Some(rows) = kernel_rows(&doc) {
            figures.extend(kernel_figures(&args.out, &stem, &name, &doc, &rows)?);
        } else if let Some(rows) = prove_rows(&doc) {
            if rows.iter().all(|r| r.log_domain.is_some()) {
                figures.extend(peer_figures(&args.out, &stem, &name, &doc, &rows)?);
            } else {
                figures.push(prove_figure(&args.out, &stem, &name, &doc, &rows)?);
            }
        }
        if figures.len() == before {
            listed.push((name, numbers(&doc)));
        }
    }
    let page = page(&figures, &listed, &skipped, &args.dir);
    let index = args.out.join("index.html");
    std::fs::write(&index, page).with_context(|| format!("writing {}", index.display()))?;
    println!(
        "{}: {} figures from {} result files ({} listed without a figure, {} unreadable)",
        index.display(),
        figures.len(),
        files.len(),
        listed.len(),
        skipped.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// One kernel measurement.
struct KernelRow {
    bench: String,
    log_size: u32,
    fornax_s: f64,
    baseline: String,
    baseline_s: f64,
}

/// The rows of a kernel run, if `doc` is one.
fn kernel_rows(doc: &Value) -> Option<Vec<KernelRow>> {
    let rows = doc["rows"].as_array()?;
    let parsed: Vec<KernelRow> = rows
        .iter()
        .filter_map(|r| {
            Some(KernelRow {
                bench: r["bench"].as_str()?.to_string(),
                log_size: r["log_size"].as_u64()? as u32,
                fornax_s: r["fornax_s"].as_f64()?,
                baseline: r["baseline"].as_str().unwrap_or("baseline").to_string(),
                baseline_s: r["baseline_s"].as_f64()?,
            })
        })
        .collect();
    (!parsed.is_empty()).then_some(parsed)
}

/// One whole-process comparison.
struct ProveRow {
    circuit: String,
    /// log2 of the circuit's domain, where the file records it.
    log_domain: Option<u32>,
    fornax_s: f64,
    peer_s: f64,
    peer: String,
    memory_ratio: Option<f64>,
}

/// The comparisons of a `bench prove` file (one, or several as `rows`), if `doc` is one.
fn prove_rows(doc: &Value) -> Option<Vec<ProveRow>> {
    // A side's median wall time: recorded, or from its runs.
    let median = |side: &Value| -> Option<f64> {
        if let Some(m) = side["median_wall_s"].as_f64() {
            return Some(m);
        }
        let mut runs: Vec<f64> = side["wall_s"]
            .as_array()?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        runs.sort_by(f64::total_cmp);
        runs.get(runs.len() / 2).copied()
    };
    let one = |r: &Value| -> Option<ProveRow> {
        let fornax_s = median(&r["fornax"])?;
        let peer_s = median(&r["baseline"])?;
        let command = r["baseline"]["command"]
            .as_str()
            .or(r["baseline"]["runs"]["command"].as_str())
            .unwrap_or("baseline");
        let peer = command
            .split_whitespace()
            .map(|w| w.rsplit('/').next().unwrap_or(w))
            .collect::<Vec<_>>()
            .join(" ");
        let circuit = r["circuit"]
            .as_str()
            .map(str::to_string)
            .or_else(|| r["zkey"].as_str().map(str::to_string))
            .unwrap_or_else(|| "circuit".into());
        Some(ProveRow {
            circuit,
            log_domain: None,
            fornax_s,
            peer_s,
            peer,
            memory_ratio: r["memory_ratio"].as_f64(),
        })
    };
    // A row of several peers (`bench prove --peer …`): one comparison per peer.
    let peers = |r: &Value| -> Vec<ProveRow> {
        let Some(fornax_s) = r["fornax"]["median_wall_s"].as_f64() else {
            return Vec::new();
        };
        let log_domain = r["log_domain"].as_u64().map(|l| l as u32);
        let circuit = match log_domain {
            Some(l) => format!("2^{l}"),
            None => r["circuit"].as_str().unwrap_or("circuit").to_string(),
        };
        r["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(ProveRow {
                    circuit: circuit.clone(),
                    log_domain,
                    fornax_s,
                    peer_s: p["median_wall_s"].as_f64()?,
                    peer: p["peer"].as_str()?.to_string(),
                    memory_ratio: p["memory_ratio"].as_f64(),
                })
            })
            .collect()
    };
    let rows: Vec<ProveRow> = match doc["rows"].as_array() {
        Some(rows) if rows.iter().any(|r| r["peers"].is_array()) => {
            rows.iter().flat_map(peers).collect()
        }
        Some(rows) => rows.iter().filter_map(one).collect(),
        None => one(doc).into_iter().collect(),
    };
    (!rows.is_empty()).then_some(rows)
}

/// Machine, commit and command of a result file.
fn provenance(doc: &Value, file: &str) -> String {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let device = text(&doc["device"])
        .or_else(|| text(&doc["machine"]))
        .or_else(|| text(&doc["machine"]["cpu"]))
        .unwrap_or_else(|| "machine not recorded".into());
    let threads = doc["threads"]
        .as_u64()
        .map(|t| format!(", {t} threads"))
        .unwrap_or_default();
    // Newer files describe the machine: its memory, and its accelerators.
    let machine = &doc["machine"];
    let memory = machine["memory_gib"]
        .as_f64()
        .map(|m| format!(", {m} GiB"))
        .unwrap_or_default();
    let accelerators = machine["accelerators"]
        .as_array()
        .filter(|a| !a.is_empty())
        .map(|a| {
            let names: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            format!(", {}", names.join(", "))
        })
        .unwrap_or_default();
    let threads = format!("{threads}{memory}{accelerators}");
    let commit = text(&doc["commit"])
        .or_else(|| text(&doc["rows"][0]["commit"]))
        .map(|c| c.chars().take(12).collect::<String>())
        .unwrap_or_else(|| "unknown".into());
    let command = text(&doc["command"])
        .or_else(|| text(&doc["rows"][0]["command"]))
        .unwrap_or_else(|| "not recorded".into());
    format!("{device}{threads} · commit {commit} · {command} · {file}")
}

/// Colours of Fornax and of the other side.
const FORNAX: RGBColor = RGBColor(0xd9, 0x48, 0x1c);
const PEER: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);

/// Draws a kernel run: time against size per kernel, and the speed-ups.
fn kernel_figures(
    out: &Path,
    stem: &str,
    file: &str,
    doc: &Value,
    rows: &[KernelRow],
) -> Result<Vec<Figure>> {
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.bench.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    let mut figures = Vec::new();
    for kind in kinds {
        let mut series: Vec<&KernelRow> = rows.iter().filter(|r| r.bench == kind).collect();
        series.sort_by_key(|r| r.log_size);
        if series.len() < 2 {
            continue;
        }
        let svg = format!("{stem}-{kind}.svg");
        let baseline = series[0].baseline.clone();
        let title = format!("{kind}: time against size, Fornax and {baseline}");
        draw_lines(&out.join(&svg), &title, &series)?;
        let last = series.last().expect("two rows");
        figures.push(Figure {
            file: svg,
            title,
            headline: format!(
                "{:.2}× {} at 2^{}",
                last.baseline_s / last.fornax_s,
                baseline,
                last.log_size
            ),
            provenance: provenance(doc, file),
        });
    }
    let svg = format!("{stem}-speedup.svg");
    let title = "speed-up over the baseline, per kernel and size".to_string();
    let bars: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            (
                format!("{} 2^{}", r.bench, r.log_size),
                r.baseline_s / r.fornax_s,
            )
        })
        .collect();
    draw_bars(&out.join(&svg), &title, &bars, "× faster")?;
    let best = bars.iter().map(|(_, x)| *x).fold(f64::NAN, f64::max);
    figures.push(Figure {
        file: svg,
        title,
        headline: format!("up to {best:.2}×"),
        provenance: provenance(doc, file),
    });
    Ok(figures)
}

/// Colours of the peers' lines after Fornax's, in turn.
const PALETTE: [RGBColor; 5] = [
    PEER,
    RGBColor(0x2a, 0x9d, 0x5c),
    RGBColor(0x8e, 0x5a, 0xb5),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xc9, 0xa2, 0x27),
];

/// Draws a run of `bench prove --peer …`: wall time against circuit size with every prover
/// as a line (when there are several sizes), and Fornax's speed-up over each peer per size.
fn peer_figures(
    out: &Path,
    stem: &str,
    file: &str,
    doc: &Value,
    rows: &[ProveRow],
) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let size = |r: &ProveRow| r.log_domain.unwrap_or(0);
    let mut peers: Vec<&str> = Vec::new();
    for r in rows {
        if !peers.contains(&r.peer.as_str()) {
            peers.push(&r.peer);
        }
    }
    let mut sizes: Vec<u32> = rows.iter().map(size).collect();
    sizes.sort();
    sizes.dedup();
    if sizes.len() >= 2 {
        let fornax: Vec<(f64, f64)> = sizes
            .iter()
            .filter_map(|&l| {
                rows.iter()
                    .find(|r| size(r) == l)
                    .map(|r| (l as f64, r.fornax_s))
            })
            .collect();
        let mut series = vec![("Fornax".to_string(), FORNAX, fornax)];
        for (k, peer) in peers.iter().enumerate() {
            let points = rows
                .iter()
                .filter(|r| r.peer == *peer)
                .map(|r| (size(r) as f64, r.peer_s))
                .collect();
            series.push((peer.to_string(), PALETTE[k % PALETTE.len()], points));
        }
        let svg = format!("{stem}-lines.svg");
        let title = "Groth16 whole process: wall time against domain size".to_string();
        draw_series(&out.join(&svg), &title, &SIZE_AXES, &series)?;
        figures.push(Figure {
            file: svg,
            title,
            headline: format!("Fornax and {}", peers.join(", ")),
            provenance: provenance(doc, file),
        });
    }
    let svg = format!("{stem}-speedup.svg");
    let title = "Fornax's speed-up over each prover, per domain size".to_string();
    let bars: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            (
                format!("{} {}", short(&r.peer, 14), r.circuit),
                r.peer_s / r.fornax_s,
            )
        })
        .collect();
    draw_bars(&out.join(&svg), &title, &bars, "× faster")?;
    let headline = rows
        .iter()
        .map(|r| {
            let memory = r
                .memory_ratio
                .map(|m| format!(" in {m:.2}× the memory"))
                .unwrap_or_default();
            format!(
                "{:.2}× {} at {}{memory}",
                r.peer_s / r.fornax_s,
                r.peer,
                r.circuit
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    figures.push(Figure::new(svg, title, headline, doc, file));
    Ok(figures)
}

/// Draws a `bench cluster` run: per circuit size, proofs per second and p99 latency
/// against offered load, one line per worker count.
fn cluster_figures(out: &Path, stem: &str, file: &str, doc: &Value) -> Result<Vec<Figure>> {
    let series = doc["series"].as_array().cloned().unwrap_or_default();
    let mut logs: Vec<u64> = series
        .iter()
        .filter_map(|s| s["log_constraints"].as_u64())
        .collect();
    logs.sort();
    logs.dedup();
    let mut figures = Vec::new();
    for log in logs {
        let curves: Vec<&Value> = series
            .iter()
            .filter(|s| s["log_constraints"].as_u64() == Some(log))
            .collect();
        let lines = |y: &str| -> Vec<Series> {
            curves
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    let points = s["points"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| Some((p["offered_per_s"].as_f64()?, p[y].as_f64()?)))
                        .collect();
                    let colour = if k == 0 {
                        FORNAX
                    } else {
                        PALETTE[(k - 1) % PALETTE.len()]
                    };
                    (format!("{} workers", s["workers"]), colour, points)
                })
                .collect()
        };
        for (y, what, axes) in [
            ("achieved_per_s", "proofs per second", &RATE_AXES),
            ("p99_ms", "p99 latency", &LATENCY_AXES),
        ] {
            let svg = format!("{stem}-2e{log}-{y}.svg");
            let title = format!("cluster, 2^{log} constraints: {what} against offered load");
            draw_series(&out.join(&svg), &title, axes, &lines(y))?;
            let headline = curves
                .iter()
                .map(|s| {
                    format!(
                        "{} workers: saturated at {:.1} proofs/s",
                        s["workers"],
                        s["saturated_per_s"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            figures.push(Figure::new(svg, title, headline, doc, file));
        }
    }
    Ok(figures)
}

/// Draws a `bench fhe --blocks` run: KS-PBS per second against the batch's size, the
/// engine and tfhe-rs.
fn fhe_scaling_figure(out: &Path, stem: &str, file: &str, doc: &Value) -> Result<Figure> {
    let points = doc["points"].as_array().cloned().unwrap_or_default();
    let line = |key: &str| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter_map(|p| Some((p["pbs"].as_f64()?.log2(), p[key].as_f64()?)))
            .collect()
    };
    let svg = format!("{stem}.svg");
    let title = "FHE: KS-PBS per second against batch size".to_string();
    let series = [
        (
            "Fornax engine".to_string(),
            FORNAX,
            line("engine_pbs_per_s"),
        ),
        ("tfhe-rs".to_string(), PEER, line("tfhe_rs_pbs_per_s")),
    ];
    draw_series(&out.join(&svg), &title, &PBS_AXES, &series)?;
    let headline = match points.last() {
        Some(p) => format!(
            "{:.0} KS-PBS/s at {} PBS (tfhe-rs {:.0}/s)",
            p["engine_pbs_per_s"].as_f64().unwrap_or(0.0),
            p["pbs"],
            p["tfhe_rs_pbs_per_s"].as_f64().unwrap_or(0.0)
        ),
        None => "no points".into(),
    };
    Ok(Figure::new(svg, title, headline, doc, file))
}

/// Batch size (log2 KS-PBS) on x, KS-PBS per second on y.
const PBS_AXES: Axes = Axes {
    x_desc: "KS-PBS in the batch",
    y_desc: "KS-PBS per second",
    x_label: power_of_two,
    y_label: plain,
};

/// Offered load on x, achieved proofs per second on y.
const RATE_AXES: Axes = Axes {
    x_desc: "offered proofs per second",
    y_desc: "proofs per second",
    x_label: plain,
    y_label: plain,
};

/// Offered load on x, latency on y.
const LATENCY_AXES: Axes = Axes {
    x_desc: "offered proofs per second",
    y_desc: "p99 latency, acceptance to proof",
    x_label: plain,
    y_label: milliseconds,
};

/// A number with two significant decimals at most.
fn plain(x: &f64) -> String {
    format!("{}", (x * 100.0).round() / 100.0)
}

/// Milliseconds, worded at their scale.
fn milliseconds(ms: &f64) -> String {
    seconds(*ms / 1e3)
}

/// Draws whole-process comparisons: wall time per circuit, Fornax beside the other prover.
fn prove_figure(
    out: &Path,
    stem: &str,
    file: &str,
    doc: &Value,
    rows: &[ProveRow],
) -> Result<Figure> {
    let svg = format!("{stem}.svg");
    let peer = rows[0].peer.clone();
    let title = format!("fornax prove against {peer}: median wall time per circuit");
    let pairs: Vec<(String, f64, f64)> = rows
        .iter()
        .map(|r| (short(&r.circuit, 34), r.fornax_s, r.peer_s))
        .collect();
    draw_pairs(&out.join(&svg), &title, &pairs, &peer)?;
    let headline = rows
        .iter()
        .map(|r| {
            let memory = r
                .memory_ratio
                .map(|m| format!(", {m:.2}× the memory"))
                .unwrap_or_default();
            format!("{:.2}× as fast{memory}", r.peer_s / r.fornax_s)
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Figure {
        file: svg,
        title,
        headline,
        provenance: provenance(doc, file),
    })
}

/// `text` cut to `n` characters.
fn short(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Plotting errors as anyhow errors.
fn plot<T, E: std::fmt::Debug>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow::anyhow!("drawing: {e:?}"))
}

/// Seconds against log2 size, log axes, Fornax and the baseline.
fn draw_lines(path: &Path, title: &str, series: &[&KernelRow]) -> Result<()> {
    let points = |pick: fn(&KernelRow) -> f64| -> Vec<(f64, f64)> {
        series
            .iter()
            .map(|r| (r.log_size as f64, pick(r)))
            .collect()
    };
    draw_series(
        path,
        title,
        &SIZE_AXES,
        &[
            ("Fornax".into(), FORNAX, points(|r| r.fornax_s)),
            (series[0].baseline.clone(), PEER, points(|r| r.baseline_s)),
        ],
    )
}

/// A line figure's axes: x linear, y logarithmic.
struct Axes {
    x_desc: &'static str,
    y_desc: &'static str,
    x_label: fn(&f64) -> String,
    y_label: fn(&f64) -> String,
}

/// Log2 sizes on x, seconds on y.
const SIZE_AXES: Axes = Axes {
    x_desc: "log2 size",
    y_desc: "seconds (median)",
    x_label: power_of_two,
    y_label: |s| seconds(*s),
};

/// `2^x` at whole x (the ticks between are left unlabelled).
fn power_of_two(x: &f64) -> String {
    if x.fract() == 0.0 {
        format!("2^{x}")
    } else {
        String::new()
    }
}

/// A named line: its colour and its points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

/// One line per named series.
fn draw_series(path: &Path, title: &str, axes: &Axes, series: &[Series]) -> Result<()> {
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    plot(root.fill(&WHITE))?;
    let all = series.iter().flat_map(|(_, _, p)| p.iter());
    let (lo, hi, ymin, ymax) = all.fold(
        (f64::MAX, f64::MIN, f64::MAX, 0f64),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    let mut chart = plot(
        ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, (ymin / 2.0..ymax * 2.0).log_scale()),
    )?;
    plot(
        chart
            .configure_mesh()
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .x_label_formatter(&axes.x_label)
            .y_label_formatter(&axes.y_label)
            .draw(),
    )?;
    for (name, colour, points) in series {
        let colour = *colour;
        plot(chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2))))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        plot(chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled()))))?;
    }
    plot(
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw(),
    )?;
    plot(root.present())
}

/// Seconds, worded at their scale.
fn seconds(s: f64) -> String {
    if s <= 0.0 {
        "0".into()
    } else if s >= 1.0 {
        format!("{s:.1} s")
    } else if s >= 1e-3 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// One bar per entry, with its value written above.
fn draw_bars(path: &Path, title: &str, bars: &[(String, f64)], unit: &str) -> Result<()> {
    let width = (120 + 70 * bars.len() as u32).max(480);
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    let top = bars.iter().map(|(_, v)| *v).fold(1.0, f64::max) * 1.2;
    let names: Vec<&str> = bars.iter().map(|(l, _)| l.as_str()).collect();
    let n = bars.len();
    let mut chart = categories(&root, title, &names, top, unit, &|y| format!("{y:.1}"))?;
    plot(
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            Rectangle::new(
                [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, *v)],
                FORNAX.filled(),
            )
        })),
    )?;
    plot(
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            Text::new(
                format!("{v:.2}×"),
                (i as f64 + 0.3, v + top * 0.02),
                ("sans-serif", 13),
            )
        })),
    )?;
    // The line a speed-up must clear.
    plot(chart.draw_series(LineSeries::new(
        [(0.0, 1.0), (n as f64, 1.0)],
        BLACK.mix(0.5),
    )))?;
    plot(root.present())
}

/// The chart's type on an SVG page with a numeric x axis.
type BarChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A white chart of one slot per name (slot i spans `i..i + 1` on x, its name under it),
/// values from 0 to `top` on y.
fn categories<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    names: &[&str],
    top: f64,
    y_desc: &str,
    y_format: &dyn Fn(&f64) -> String,
) -> Result<BarChart<'a, 'b>> {
    plot(root.fill(&WHITE))?;
    let n = names.len();
    let mut chart = plot(
        ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, 0f64..top),
    )?;
    plot(
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(y_desc)
            .y_label_formatter(y_format)
            .draw(),
    )?;
    let labels: Vec<(f64, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (i as f64 + 0.5, *name))
        .collect();
    label_under(root, &chart, &labels)?;
    Ok(chart)
}

/// Writes each label centred under its x position, below the chart's axis.
fn label_under(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    chart: &BarChart<'_, '_>,
    labels: &[(f64, &str)],
) -> Result<()> {
    let style =
        ("sans-serif", 12)
            .into_font()
            .color(&BLACK)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ));
    for (x, text) in labels {
        let (px, py) = chart.backend_coord(&(*x, 0.0));
        plot(root.draw(&Text::new(text.to_string(), (px, py + 8), style.clone())))?;
    }
    Ok(())
}

/// Two bars per entry (Fornax, the peer), wall times.
fn draw_pairs(path: &Path, title: &str, pairs: &[(String, f64, f64)], peer: &str) -> Result<()> {
    let width = (160 + 200 * pairs.len() as u32).max(560);
    let root = SVGBackend::new(path, (width, 440)).into_drawing_area();
    let top = pairs.iter().map(|p| p.1.max(p.2)).fold(0.0, f64::max) * 1.2;
    let names: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    let mut chart = categories(&root, title, &names, top, "seconds (median)", &|y| {
        seconds(*y)
    })?;
    type Pick = fn(&(String, f64, f64)) -> f64;
    let sides: [(&str, RGBColor, f64, Pick); 2] =
        [("Fornax", FORNAX, 0.1, |p| p.1), (peer, PEER, 0.5, |p| p.2)];
    for (side, colour, offset, value) in sides {
        plot(chart.draw_series(pairs.iter().enumerate().map(|(i, p)| {
            let x = i as f64 + offset;
            Rectangle::new([(x, 0.0), (x + 0.38, value(p))], colour.filled())
        })))?
        .label(side.to_string())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
        plot(chart.draw_series(pairs.iter().enumerate().map(|(i, p)| {
            Text::new(
                seconds(value(p)),
                (i as f64 + offset + 0.05, value(p) + top * 0.02),
                ("sans-serif", 13),
            )
        })))?;
    }
    plot(
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw(),
    )?;
    plot(root.present())
}

/// The top-level numbers of a result file that is not drawn, as `key = value` pairs.
fn numbers(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(map) = doc.as_object() {
        for (k, v) in map {
            match v {
                Value::Number(n) => out.push((k.clone(), n.to_string())),
                Value::String(s) if k == "what" || k == "bench" => {
                    out.push((k.clone(), short(s, 160)))
                }
                _ => {}
            }
        }
    }
    out
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page.
fn page(
    figures: &[Figure],
    listed: &[(String, Vec<(String, String)>)],
    skipped: &[String],
    dir: &Path,
) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <title>Fornax benchmarks</title>\n<style>\n\
         body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}\n\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}\n\
         figure{margin:2em 0}figcaption{font-size:13px;color:#555;word-break:break-all}\n\
         img{max-width:100%;border:1px solid #eee}\n</style></head><body>\n\
         <h1>Fornax benchmarks</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p>Every result file in <code>{}</code>, drawn by <code>fornax bench report</code>. \
         Ratios are measured side by side in one run; absolute times are those of the \
         machine named under each figure.</p>",
        escape(&dir.display().to_string())
    );
    html.push_str("<h2>Where Fornax stands</h2>\n<table><tr><th>figure</th><th>result</th><th>source</th></tr>\n");
    for (i, f) in figures.iter().enumerate() {
        let _ = writeln!(
            html,
            "<tr><td><a href=\"#f{i}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            escape(&f.title),
            escape(&f.headline),
            escape(f.provenance.rsplit(" · ").next().unwrap_or_default())
        );
    }
    html.push_str("</table>\n");
    for (i, f) in figures.iter().enumerate() {
        let _ = writeln!(
            html,
            "<figure id=\"f{i}\"><img src=\"{}\" alt=\"{}\"><figcaption><b>{}</b>: {}<br>{}</figcaption></figure>",
            escape(&f.file),
            escape(&f.title),
            escape(&f.title),
            escape(&f.headline),
            escape(&f.provenance)
        );
    }
    if !listed.is_empty() {
        html.push_str(
            "<h2>Other results (not drawn)</h2>\n<table><tr><th>file</th><th>numbers</th></tr>\n",
        );
        for (file, numbers) in listed {
            let text = numbers
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(file),
                escape(&text)
            );
        }
        html.push_str("</table>\n");
    }
    if !skipped.is_empty() {
        html.push_str("<h2>Unreadable files</h2>\n<ul>\n");
        for s in skipped {
            let _ = writeln!(html, "<li>{}</li>", escape(s));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    html
}
