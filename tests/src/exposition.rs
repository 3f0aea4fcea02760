//! Prometheus' text exposition format (version 0.0.4), parsed strictly enough to catch what a
//! scraper would choke on: every sample under a `# TYPE`, quoted and escaped label values, one
//! value per line. For the metrics suite (`tests/tests/metrics.rs`).

use std::collections::{BTreeMap, BTreeSet};

/// One sample line: `name{label="value",…} value`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A histogram's series: `(le, cumulative count)` by bound, its sum and count.
#[derive(Debug)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// A scrape, parsed from Prometheus' text format (version 0.0.4).
#[derive(Debug)]
pub struct Scrape {
    pub text: String,
    /// Each family's type, from its `# TYPE` line.
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Scrape {
    pub fn parse(text: String) -> Scrape {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let words: Vec<&str> = comment.split_whitespace().collect();
                match words.as_slice() {
                    ["TYPE", name, kind] => {
                        let earlier = types.insert(name.to_string(), kind.to_string());
                        assert!(earlier.is_none(), "two TYPE lines for {name}");
                    }
                    ["HELP", _name, ..] => {}
                    _ => panic!("unexpected comment line: {line}"),
                }
                continue;
            }
            samples.push(parse_sample(line));
        }
        let scrape = Scrape {
            text,
            types,
            samples,
        };
        for sample in &scrape.samples {
            assert!(
                scrape.family_of(&sample.name).is_some(),
                "{} has no TYPE line",
                sample.name
            );
        }
        scrape
    }

    /// The family (with its TYPE) a sample name belongs to: itself, or a histogram's
    /// `_bucket`/`_sum`/`_count`.
    pub fn family_of(&self, name: &str) -> Option<(&str, &str)> {
        if let Some((family, kind)) = self.types.get_key_value(name) {
            return Some((family, kind));
        }
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))?;
        let (family, kind) = self.types.get_key_value(base)?;
        (kind == "histogram").then_some((family.as_str(), kind.as_str()))
    }

    /// The value of the sample `name` with exactly these labels.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// Like [`Scrape::get`], for a sample that must be there.
    #[track_caller]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in\n{}", self.text))
    }

    /// The samples named `name`.
    pub fn all(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// The sum of `counter`'s samples by the value of their label `label`.
    pub fn sum_by(&self, counter: &str, label: &str) -> BTreeMap<String, f64> {
        let mut sums = BTreeMap::new();
        for sample in self.all(counter) {
            *sums.entry(sample.labels[label].clone()).or_default() += sample.value;
        }
        sums
    }

    /// The histogram `name` with these labels (besides `le`), checked: its buckets cumulative,
    /// the last one `+Inf` holding the count.
    #[track_caller]
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Histogram {
        assert_eq!(self.types.get(name).map(String::as_str), Some("histogram"));
        let count = self.value(&format!("{name}_count"), labels);
        let sum = self.value(&format!("{name}_sum"), labels);
        let bucket_name = format!("{name}_bucket");
        let wanted: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let mut buckets: Vec<(f64, f64)> = self
            .all(&bucket_name)
            .into_iter()
            .filter(|s| {
                let others = s.labels.iter().filter(|(k, _)| *k != "le");
                others
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .eq(wanted.iter().map(|(k, v)| (*k, *v)))
            })
            .map(|s| (parse_value(&s.labels["le"]), s.value))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(
            buckets.last(),
            Some(&(f64::INFINITY, count)),
            "{name}{labels:?}"
        );
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}{labels:?}: buckets not cumulative: {buckets:?}"
        );
        Histogram {
            buckets,
            sum,
            count,
        }
    }

    /// Every series (name and labels, not the value): what a client could make grow.
    pub fn series(&self) -> BTreeSet<(String, Vec<(String, String)>)> {
        self.samples
            .iter()
            .map(|s| {
                let labels = s.labels.clone().into_iter().collect();
                (s.name.clone(), labels)
            })
            .collect()
    }
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value in {line}"));
    let name = line[..name_end].to_owned();
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name in {line}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, quoted) = inner
                .split_once("=\"")
                .unwrap_or_else(|| panic!("bad labels in {line}"));
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => panic!("dangling escape in {line}"),
                    },
                    Some((at, '"')) => break at,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value in {line}"),
                }
            };
            assert!(
                labels.insert(key.to_owned(), value).is_none(),
                "repeated label in {line}"
            );
            inner = &quoted[end + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().expect("no value"));
    Sample {
        name,
        labels,
        value,
    }
}

/// A sample's value or a bucket's bound: a float, `+Inf`, `-Inf` or `NaN`.
fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number
            .parse()
            .unwrap_or_else(|_| panic!("bad value {text}")),
    }
}

/// `GET url` (a `/metrics`), checked to be Prometheus' text format, parsed.
pub async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(response.text().await.unwrap())
}
