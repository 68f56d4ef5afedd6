//! The Prometheus text exposition format (version 0.0.4), written the way Prometheus' Go client
//! writes it: families sorted by name with `# HELP` and `# TYPE` lines, label names sorted,
//! series sorted by label values, floats in Go's shortest `%g` form (`1.795778399e+09`, `0.3`).

use std::fmt::Write as _;

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One sample's labels, sorted by name.
pub(super) type LabelSet<'a> = Vec<(&'a str, String)>;

/// A family being rendered: its series are collected, then sorted and written at once.
pub(super) struct Family<'a> {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    /// Label sets (sorted by name) with their value.
    samples: Vec<(LabelSet<'a>, Value)>,
}

/// A sample's value.
pub(super) enum Value {
    Number(f64),
    Histogram {
        /// Cumulative counts per upper bound (`+Inf` excluded).
        buckets: Vec<(f64, u64)>,
        count: u64,
        sum: f64,
    },
}

impl<'a> Family<'a> {
    pub(super) fn new(name: &'static str, help: &'static str, kind: Kind) -> Self {
        Self {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    /// Adds a sample; `labels` need not be sorted.
    pub(super) fn push(&mut self, mut labels: LabelSet<'a>, value: Value) {
        labels.sort_by(|a, b| a.0.cmp(b.0));
        self.samples.push((labels, value));
    }

    pub(super) fn name(&self) -> &'static str {
        self.name
    }

    /// Writes the family (nothing when it has no sample, as the Go client does).
    pub(super) fn write(mut self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        self.samples
            .sort_by(|a, b| a.0.iter().map(|(_, v)| v).cmp(b.0.iter().map(|(_, v)| v)));
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind.as_str());
        for (labels, value) in &self.samples {
            match value {
                Value::Number(v) => {
                    out.push_str(self.name);
                    write_labels(out, labels, None);
                    out.push(' ');
                    push_float(out, *v);
                    out.push('\n');
                }
                Value::Histogram {
                    buckets,
                    count,
                    sum,
                } => {
                    for (bound, n) in buckets {
                        out.push_str(self.name);
                        out.push_str("_bucket");
                        write_labels(out, labels, Some(&go_float(*bound)));
                        out.push(' ');
                        push_float(out, *n as f64);
                        out.push('\n');
                    }
                    out.push_str(self.name);
                    out.push_str("_bucket");
                    write_labels(out, labels, Some("+Inf"));
                    out.push(' ');
                    push_float(out, *count as f64);
                    out.push('\n');
                    out.push_str(self.name);
                    out.push_str("_sum");
                    write_labels(out, labels, None);
                    out.push(' ');
                    push_float(out, *sum);
                    out.push('\n');
                    out.push_str(self.name);
                    out.push_str("_count");
                    write_labels(out, labels, None);
                    out.push(' ');
                    push_float(out, *count as f64);
                    out.push('\n');
                }
            }
        }
    }
}

fn write_labels(out: &mut String, labels: &[(&str, String)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .chain(le.map(|le| ("le", le)))
    {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    out.push('}');
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn push_float(out: &mut String, v: f64) {
    out.push_str(&go_float(v));
}

/// `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it, with Prometheus' `+Inf`,
/// `-Inf` and `NaN`.
pub(super) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Shortest round-trip digits, as `d.ddde<exp>`.
    let sci = format!("{v:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    // Go's shortest `%g` (strconv/ftoa.go) switches to `%e` when the exponent is < -4 or >= 6,
    // with at least two exponent digits.
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    // Rust's Display never uses an exponent and prints the shortest round-trip digits.
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_like_go() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (5.0, "5"),
            (0.1, "0.1"),
            (1.2, "1.2"),
            (0.00126286, "0.00126286"),
            (0.0000126, "1.26e-05"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1795778399.0, "1.795778399e+09"),
            (1e21, "1e+21"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }

    #[test]
    fn families_are_sorted_and_escaped() {
        let mut f = Family::new("x_total", "Help \\ text", Kind::Counter);
        f.push(
            vec![("b", "2".into()), ("a", "z\"q".into())],
            Value::Number(3.0),
        );
        f.push(
            vec![("b", "1".into()), ("a", "a\n".into())],
            Value::Number(1.0),
        );
        let mut out = String::new();
        f.write(&mut out);
        assert_eq!(
            out,
            "# HELP x_total Help \\\\ text\n# TYPE x_total counter\nx_total{a=\"a\\n\",b=\"1\"} 1\nx_total{a=\"z\\\"q\",b=\"2\"} 3\n"
        );
    }

    #[test]
    fn histograms_have_cumulative_buckets_sum_and_count() {
        let mut f = Family::new("d_seconds", "h", Kind::Histogram);
        f.push(
            vec![("code", "200".into())],
            Value::Histogram {
                buckets: vec![(0.1, 1), (5.0, 2)],
                count: 3,
                sum: 7.5,
            },
        );
        let mut out = String::new();
        f.write(&mut out);
        assert_eq!(
            out,
            "# HELP d_seconds h\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{code=\"200\",le=\"0.1\"} 1\n\
             d_seconds_bucket{code=\"200\",le=\"5\"} 2\n\
             d_seconds_bucket{code=\"200\",le=\"+Inf\"} 3\n\
             d_seconds_sum{code=\"200\"} 7.5\n\
             d_seconds_count{code=\"200\"} 3\n"
        );
    }

    #[test]
    fn empty_families_are_not_written() {
        let mut out = String::new();
        Family::new("x", "h", Kind::Gauge).write(&mut out);
        assert!(out.is_empty());
    }
}
