//! JUnit XML, written as the outcomes come, so that memory stays flat
//! however many requests a run has.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Row;

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters, even escaped.
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

struct TestSuite {
    name: String,
    file: String,
    part: PathBuf,
    writer: BufWriter<File>,
    tests: u64,
    failures: u64,
    skipped: u64,
    time: Duration,
    insecure: bool,
}

/// One test case as JUnit writes it.
pub struct Case<'a> {
    /// The collection: the suite, and the case's class name.
    pub collection: &'a str,
    /// The collection's file.
    pub file: &'a str,
    /// The request's name.
    pub name: &'a str,
    /// The request's line in the file.
    pub line: u32,
    /// How long it took.
    pub time: Duration,
    /// `passed`, `failed` or `not_run`.
    pub result: &'a str,
    /// Why it failed or did not run.
    pub message: Option<&'a str>,
    /// Its tags.
    pub tags: &'a [String],
}

/// JUnit XML as GitLab, GitHub and Jenkins read it: a `testsuite` per
/// collection, a `testcase` per request. Test cases go to a part file per
/// collection; `finish` writes the suites with their counts around them.
pub struct Junit {
    path: PathBuf,
    suites: Vec<Option<TestSuite>>,
    /// Per collection: whether its server certificates went unchecked.
    insecure: Vec<bool>,
    started: SystemTime,
}

impl Junit {
    /// A report of one suite per collection (`insecure` says, for each,
    /// whether its certificates went unchecked); checks now that `path`
    /// can be written.
    pub fn create(path: &Path, insecure: Vec<bool>) -> io::Result<Self> {
        // Fail now, not after the run, when the file cannot be written.
        File::create(path)?;
        Ok(Junit {
            path: path.to_path_buf(),
            suites: insecure.iter().map(|_| None).collect(),
            insecure,
            started: SystemTime::now(),
        })
    }

    /// Adds one request's test case to collection `ci`'s suite.
    pub fn record(&mut self, ci: usize, row: &Row) -> io::Result<()> {
        self.case(
            ci,
            &Case {
                collection: &row.collection.name,
                file: &row.collection.file,
                name: row.name,
                line: row.request.at.line,
                time: row.duration(),
                result: row.result(),
                message: row.message.as_deref(),
                tags: &row.request.tags,
            },
        )
    }

    /// Adds a test case, as a run or a merge of reports gives it, to suite `ci`.
    pub fn case(&mut self, ci: usize, case: &Case) -> io::Result<()> {
        if self.suites[ci].is_none() {
            let part = std::env::temp_dir().join(format!(
                "reqtest-junit-{}-{ci}-{}.part",
                std::process::id(),
                rand_suffix()
            ));
            self.suites[ci] = Some(TestSuite {
                name: case.collection.to_string(),
                file: case.file.to_string(),
                writer: BufWriter::new(File::create(&part)?),
                part,
                tests: 0,
                failures: 0,
                skipped: 0,
                time: Duration::ZERO,
                insecure: self.insecure[ci],
            });
        }
        let suite = self.suites[ci].as_mut().expect("just made");
        suite.tests += 1;
        suite.time += case.time;
        let w = &mut suite.writer;
        write!(
            w,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\" file=\"{}\" line=\"{}\"",
            xml_escape(case.name),
            xml_escape(case.collection),
            case.time.as_secs_f64(),
            xml_escape(case.file),
            case.line
        )?;
        // Tags as properties, where JUnit readers show them.
        let props: String = if case.tags.is_empty() {
            String::new()
        } else {
            let each: String = case
                .tags
                .iter()
                .map(|t| format!("<property name=\"tag\" value=\"{}\"/>", xml_escape(t)))
                .collect();
            format!(">\n      <properties>{each}</properties>")
        };
        let open = if props.is_empty() { ">" } else { "" };
        match (case.result, case.message) {
            ("passed", _) if props.is_empty() => writeln!(w, "/>")?,
            ("passed", _) => writeln!(w, "{props}\n    </testcase>")?,
            ("not_run", message) => {
                suite.skipped += 1;
                writeln!(
                    w,
                    "{open}{props}\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml_escape(message.unwrap_or("not run"))
                )?;
            }
            (_, message) => {
                suite.failures += 1;
                let message = message.unwrap_or("failed");
                let first = message.lines().next().unwrap_or_default();
                writeln!(
                    w,
                    "{open}{props}\n      <failure message=\"{}\" type=\"assertion\">{}</failure>\n    </testcase>",
                    xml_escape(first),
                    xml_escape(message)
                )?;
            }
        }
        Ok(())
    }

    /// Writes the file: every suite with its counts and test cases.
    pub fn finish(self) -> io::Result<()> {
        let mut out = BufWriter::new(File::create(&self.path)?);
        let suites: Vec<TestSuite> = self.suites.into_iter().flatten().collect();
        let total = |f: fn(&TestSuite) -> u64| suites.iter().map(f).sum::<u64>();
        let time: f64 = suites.iter().map(|s| s.time.as_secs_f64()).sum();
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites name=\"reqtest\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{time:.3}\">",
            total(|s| s.tests),
            total(|s| s.failures),
            total(|s| s.skipped)
        )?;
        let timestamp =
            chrono::DateTime::<chrono::Utc>::from(self.started).format("%Y-%m-%dT%H:%M:%S");
        for mut suite in suites {
            suite.writer.flush()?;
            drop(suite.writer);
            writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{timestamp}\" file=\"{}\">",
                xml_escape(&suite.name),
                suite.tests,
                suite.failures,
                suite.skipped,
                suite.time.as_secs_f64(),
                xml_escape(&suite.file)
            )?;
            if suite.insecure {
                writeln!(
                    out,
                    "    <properties><property name=\"reqtest.tls.insecure\" value=\"true\"/></properties>"
                )?;
            }
            io::copy(&mut File::open(&suite.part)?, &mut out)?;
            let _ = std::fs::remove_file(&suite.part);
            writeln!(out, "  </testsuite>")?;
        }
        writeln!(out, "</testsuites>")?;
        out.flush()
    }
}

fn rand_suffix() -> String {
    rand::distr::SampleString::sample_string(&rand::distr::Alphanumeric, &mut rand::rng(), 8)
}
