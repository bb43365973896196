//! `PreparedSource`: the chunks a query needs, gathered from ingesters and
//! the object store, served to the engine as de-duplicated per-stream
//! iterators.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use sluice_logql::labels::Labels;
use sluice_logql::source::{
    Direction, Entry, EntrySize, LineCut, LogSource, SelectParams, SizeReader, SourceError,
    StreamReader,
};
use sluice_logql::stats::{QueryStats, ReadStats};
use std::sync::Arc;

use sluice_storage::chunk::{ChunkData, LiteralFilter, ReadFilter};

/// Every stream's chunks, keyed by label set, and what the query's reads
/// of them counted.
#[derive(Default)]
pub struct PreparedSource {
    streams: HashMap<Labels, Vec<ChunkData>>,
    stats: Arc<ReadStats>,
}

impl PreparedSource {
    /// Adds chunks of a stream, skipping any chunk already present with the
    /// same bounds and entry count (the same chunk seen in memory and in
    /// the store while it was being flushed).
    pub fn add(&mut self, labels: Labels, chunks: Vec<ChunkData>) {
        let have = self.streams.entry(labels).or_default();
        for c in chunks {
            let dup = have
                .iter()
                .any(|h| h.bounds() == c.bounds() && h.entry_count() == c.entry_count());
            if !dup {
                have.push(c);
            }
        }
    }

    /// The entries read so far and those that passed the pipeline.
    pub fn read_stats(&self) -> QueryStats {
        self.stats.snapshot()
    }

    fn matching<'a>(
        &'a self,
        p: &'a SelectParams,
    ) -> impl Iterator<Item = (&'a Labels, Vec<&'a ChunkData>)> + 'a {
        self.streams
            .iter()
            .filter(|(l, _)| l.matches(&p.matchers))
            .filter_map(move |(l, cs)| {
                let cs: Vec<&ChunkData> = cs
                    .iter()
                    .filter(|c| {
                        let (min, max) = c.bounds();
                        min < p.end && max >= p.start
                    })
                    .collect();
                (!cs.is_empty()).then_some((l, cs))
            })
    }
}

impl LogSource for PreparedSource {
    fn select(&self, p: &SelectParams) -> Result<Vec<StreamReader>, SourceError> {
        let filter = read_filter(p, None);
        let cut_filter = p
            .line_cut
            .as_ref()
            .and_then(|cut| read_filter(p, Some(cut.clone())));
        let open = |c: &ChunkData, filter: &Option<Arc<ReadFilter>>| -> BoxIter<Entry> {
            Box::new(
                c.entries_counted(
                    p.start,
                    p.end,
                    p.direction,
                    filter.clone(),
                    Some(self.stats.clone()),
                )
                .map(|r| r.map_err(src_err)),
            )
        };
        Ok(self
            .matching(p)
            .map(|(labels, chunks)| {
                // Lines are not cut where entries of chunks that overlap
                // are told apart by their lines, nor after logfmt keys in a
                // stream that has a label named like one (a parser would
                // then extract `<key>_extracted` and not stop at the key).
                let cut = cut_filter.as_ref().filter(|f| {
                    !overlapping(&chunks)
                        && match &f.cut {
                            Some(LineCut::Logfmt(keys)) => {
                                keys.iter().all(|k| labels.get(k).is_none())
                            }
                            _ => true,
                        }
                });
                let filter = match cut {
                    Some(f) => Some(f.clone()),
                    None => filter.clone(),
                };
                let iters = chunks.into_iter().map(|c| open(c, &filter)).collect();
                StreamReader {
                    labels: labels.clone(),
                    entries: merge_chunks(iters, p.direction, |e| e.ts, |a, b| a.line == b.line),
                }
            })
            .collect())
    }

    fn select_sizes(
        &self,
        p: &SelectParams,
        lengths: bool,
    ) -> Result<Vec<SizeReader>, SourceError> {
        Ok(self
            .matching(p)
            .map(|(labels, chunks)| {
                // entries that chunks overlapping in time both hold are
                // told apart by (timestamp, length): lengths are needed then
                let need = lengths || overlapping(&chunks);
                let iters = chunks
                    .into_iter()
                    .map(|c| -> BoxIter<EntrySize> {
                        Box::new(
                            c.sizes_counted(
                                p.start,
                                p.end,
                                p.direction,
                                need,
                                Some(self.stats.clone()),
                            )
                            .map(|r| r.map_err(src_err)),
                        )
                    })
                    .collect();
                SizeReader {
                    labels: labels.clone(),
                    entries: merge_chunks(iters, p.direction, |e| e.ts, |a, b| a.len == b.len),
                }
            })
            .collect())
    }

    fn stats(&self) -> Option<&ReadStats> {
        Some(&self.stats)
    }
}

/// Whether any two of `chunks` share a timestamp range (bounds inclusive).
fn overlapping(chunks: &[&ChunkData]) -> bool {
    let mut b: Vec<(i64, i64)> = chunks.iter().map(|c| c.bounds()).collect();
    b.sort_unstable();
    b.windows(2).any(|w| w[1].0 <= w[0].1)
}

/// What the chunk readers may skip for `p`: lines without its required
/// literals, structured metadata it cannot use, with `cut` the ends of
/// lines past those keys.
fn read_filter(p: &SelectParams, cut: Option<LineCut>) -> Option<Arc<ReadFilter>> {
    let literals = LiteralFilter::new(&p.required_literals);
    let metadata = p.metadata_names.as_ref().map(|_| {
        let p = p.clone();
        Box::new(move |name: &str| p.needs_metadata(name))
            as Box<dyn Fn(&str) -> bool + Send + Sync>
    });
    if literals.is_none() && metadata.is_none() && cut.is_none() {
        return None;
    }
    Some(Arc::new(ReadFilter {
        literals,
        metadata,
        cut,
    }))
}

fn src_err(e: sluice_storage::Error) -> SourceError {
    SourceError(e.to_string())
}

type BoxIter<T> = Box<dyn Iterator<Item = Result<T, SourceError>> + Send>;

/// One stream's entries from its chunks: a single chunk's iterator as is
/// (already ordered and filtered), several merged.
fn merge_chunks<T: Clone + Send + 'static>(
    mut iters: Vec<BoxIter<T>>,
    direction: Direction,
    key: fn(&T) -> i64,
    same: fn(&T, &T) -> bool,
) -> BoxIter<T> {
    match iters.pop() {
        Some(only) if iters.is_empty() => only,
        Some(last) => {
            iters.push(last);
            Box::new(Merge::new(iters, direction, key, same))
        }
        None => Box::new(std::iter::empty()),
    }
}

/// K-way merge of per-chunk iterators in timestamp order, dropping an entry
/// equal (same timestamp and `same`) to one from another chunk.
struct Merge<T> {
    iters: Vec<BoxIter<T>>,
    heap: BinaryHeap<Head<T>>,
    direction: Direction,
    key: fn(&T) -> i64,
    same: fn(&T, &T) -> bool,
    /// Entries already emitted at the current timestamp, with their source.
    recent: Vec<(usize, T)>,
    error: Option<SourceError>,
    started: bool,
}

struct Head<T> {
    ts: i64,
    /// Reversed for forward so the max-heap pops the oldest.
    order: i64,
    src: usize,
    item: T,
}

impl<T> PartialEq for Head<T> {
    fn eq(&self, o: &Self) -> bool {
        self.order == o.order && self.src == o.src
    }
}
impl<T> Eq for Head<T> {}
impl<T> PartialOrd for Head<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Head<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        self.order.cmp(&o.order).then_with(|| o.src.cmp(&self.src))
    }
}

impl<T: Clone> Merge<T> {
    fn new(
        iters: Vec<BoxIter<T>>,
        direction: Direction,
        key: fn(&T) -> i64,
        same: fn(&T, &T) -> bool,
    ) -> Self {
        Merge {
            iters,
            heap: BinaryHeap::new(),
            direction,
            key,
            same,
            recent: Vec::new(),
            error: None,
            started: false,
        }
    }

    fn pull(&mut self, src: usize) {
        match self.iters[src].next() {
            Some(Ok(item)) => {
                let ts = (self.key)(&item);
                let order = if self.direction == Direction::Forward {
                    -ts
                } else {
                    ts
                };
                self.heap.push(Head {
                    ts,
                    order,
                    src,
                    item,
                });
            }
            Some(Err(e)) => self.error = Some(e),
            None => {}
        }
    }
}

impl<T: Clone> Iterator for Merge<T> {
    type Item = Result<T, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for i in 0..self.iters.len() {
                self.pull(i);
            }
        }
        loop {
            if let Some(e) = self.error.take() {
                return Some(Err(e));
            }
            let head = self.heap.pop()?;
            self.pull(head.src);
            if self
                .recent
                .first()
                .is_some_and(|(_, r)| (self.key)(r) != head.ts)
            {
                self.recent.clear();
            }
            let dup = self
                .recent
                .iter()
                .any(|(src, r)| *src != head.src && (self.same)(r, &head.item));
            if dup {
                continue;
            }
            // only an entry another head shares the timestamp with can be
            // duplicated later (each source's next entry is already in the heap)
            if self.heap.peek().is_some_and(|h| h.ts == head.ts) {
                self.recent.push((head.src, head.item.clone()));
            }
            return Some(Ok(head.item));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn it(v: Vec<(i64, u32)>) -> BoxIter<EntrySize> {
        Box::new(v.into_iter().map(|(ts, len)| Ok(EntrySize { ts, len })))
    }

    #[test]
    fn merges_in_order_and_drops_cross_source_duplicates() {
        let m = Merge::new(
            vec![
                it(vec![(1, 1), (3, 1), (3, 1), (5, 1)]),
                it(vec![(2, 1), (3, 1), (6, 1)]),
            ],
            Direction::Forward,
            |e: &EntrySize| e.ts,
            |a, b| a.len == b.len,
        );
        let ts: Vec<i64> = m.map(|e| e.unwrap().ts).collect();
        // the duplicate within one source is kept, the one across sources dropped
        assert_eq!(ts, vec![1, 2, 3, 3, 5, 6]);
        let m = Merge::new(
            vec![it(vec![(5, 1), (1, 1)]), it(vec![(6, 1), (2, 1)])],
            Direction::Backward,
            |e: &EntrySize| e.ts,
            |a, b| a.len == b.len,
        );
        let ts: Vec<i64> = m.map(|e| e.unwrap().ts).collect();
        assert_eq!(ts, vec![6, 5, 2, 1]);
    }

    /// A chunk of field-layout blocks (whose lengths are not stored).
    fn chunk(entries: &[(i64, String)]) -> ChunkData {
        let cfg = sluice_storage::ChunkConfig {
            block_size: 600,
            ..Default::default()
        };
        let mut c = sluice_storage::MemChunk::new(&cfg);
        for (ts, line) in entries {
            c.append(*ts, line.as_bytes(), &[]);
        }
        ChunkData::decode(c.encode()).unwrap()
    }

    /// A forward read of stream `{app="<app>"}` over all time.
    fn params(app: &str, line_cut: Option<LineCut>) -> SelectParams {
        SelectParams {
            matchers: vec![sluice_logql::labels::Matcher::new(
                "app",
                sluice_logql::labels::MatchOp::Eq,
                app,
            )
            .unwrap()],
            start: i64::MIN,
            end: i64::MAX,
            direction: Direction::Forward,
            required_literals: Vec::new(),
            metadata_names: None,
            line_cut,
        }
    }

    fn count(src: &PreparedSource, lengths: bool) -> Vec<(i64, u32)> {
        let mut readers = src.select_sizes(&params("a", None), lengths).unwrap();
        assert_eq!(readers.len(), 1);
        readers
            .pop()
            .unwrap()
            .entries
            .map(|e| e.map(|e| (e.ts, e.len)).unwrap())
            .collect()
    }

    #[test]
    fn sizes_of_overlapping_chunks_keep_entries_that_differ_only_in_line() {
        let line = |i: i64| {
            format!(
                "level=info n={i} msg=\"call {}\"",
                "x".repeat((i % 7) as usize)
            )
        };
        let a: Vec<(i64, String)> = (1..=100).map(|i| (i, line(i))).collect();
        // a replica that cut its chunk elsewhere, plus a second entry at
        // ts 75 with another line: Loki counts it
        let mut b: Vec<(i64, String)> = (50..=150).map(|i| (i, line(i))).collect();
        b.push((75, "level=info n=75 msg=\"another line\"".to_string()));
        let labels = Labels::new(vec![("app".to_string(), "a".to_string())]);
        let mut src = PreparedSource::default();
        src.add(labels.clone(), vec![chunk(&a), chunk(&b)]);
        for lengths in [false, true] {
            let got = count(&src, lengths);
            assert_eq!(got.len(), 151, "lengths {lengths}");
            if lengths {
                assert!(got
                    .iter()
                    .all(|&(ts, len)| ts == 75 || len as usize == line(ts).len()));
            }
        }
        // chunks that do not overlap: counted without lengths
        let mut src = PreparedSource::default();
        src.add(labels, vec![chunk(&a[..40]), chunk(&a[40..])]);
        let got = count(&src, false);
        assert_eq!(
            got.iter().map(|e| e.0).collect::<Vec<_>>(),
            (1..=100).collect::<Vec<_>>()
        );
    }

    #[test]
    fn queries_count_entries_read_and_those_past_the_pipeline() {
        use sluice_logql::engine::{evaluate, Limits, QueryParams};
        // two overlapping replicas' chunks (both read: Loki counts
        // duplicates as processed too) and one chunk of another stream
        let a: Vec<(i64, String)> = (0..100).map(|i| (i, format!("n={i} hay"))).collect();
        let b: Vec<(i64, String)> = (0..40).map(|i| (i, format!("n={i} hay"))).collect();
        let c: Vec<(i64, String)> = (0..10).map(|i| (i, format!("n={i} needle"))).collect();
        let bytes = |v: &[(i64, String)]| v.iter().map(|e| e.1.len() as u64).sum::<u64>();
        let read = 100 + 40 + 10;
        let read_bytes = bytes(&a) + bytes(&b) + bytes(&c);
        let app = |v: &str| Labels::new(vec![("app".to_string(), v.to_string())]);
        let mut src = PreparedSource::default();
        src.add(app("a"), vec![chunk(&a), chunk(&b)]);
        src.add(app("b"), vec![chunk(&c)]);
        let logs = QueryParams {
            start: 0,
            end: 1_000,
            step: 1,
            direction: Direction::Backward,
            limit: 1000,
        };
        let metric = QueryParams {
            start: 1_000,
            step: 0,
            ..logs
        };
        for (q, p, passed) in [
            (r#"{app=~"a|b"}"#, logs, 110),
            (r#"{app=~"a|b"} |= "needle""#, logs, 10),
            (r#"{app=~"a|b"} |~ "n=[12][0-9] ""#, logs, 20),
            (r#"sum(count_over_time({app=~"a|b"}[1s]))"#, metric, 110),
            (
                r#"sum(count_over_time({app=~"a|b"} != "needle" [1s]))"#,
                metric,
                100,
            ),
        ] {
            let src = PreparedSource {
                streams: src.streams.clone(),
                stats: Default::default(),
            };
            let expr = sluice_logql::parser::parse_expr(q).unwrap();
            evaluate(&expr, &src, &p, &Limits::default()).unwrap();
            let s = src.read_stats();
            assert_eq!(
                (s.lines, s.bytes, s.post_filter_lines),
                (read, read_bytes, passed),
                "{q}"
            );
        }
    }

    /// Entries of the one stream of `src`, read with lines cut after
    /// `level`.
    fn read_cut(src: &PreparedSource, app: &str) -> Vec<Entry> {
        let p = params(app, Some(LineCut::Logfmt(vec!["level".to_string()])));
        let mut readers = src.select(&p).unwrap();
        assert_eq!(readers.len(), 1);
        readers.pop().unwrap().entries.map(|e| e.unwrap()).collect()
    }

    #[test]
    fn lines_are_cut_only_where_nothing_tells_entries_apart_by_them() {
        let line = |i: i64| format!("level=info n={i} msg=\"call\"");
        let a: Vec<(i64, String)> = (1..=100).map(|i| (i, line(i))).collect();
        let labels = |app: &str, more: &[(&str, &str)]| {
            let mut l = vec![("app".to_string(), app.to_string())];
            l.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Labels::new(l)
        };
        let mut src = PreparedSource::default();
        src.add(labels("a", &[]), vec![chunk(&a[..40]), chunk(&a[40..])]);
        // overlapping chunks: two entries at one timestamp are told apart
        // by their lines
        src.add(labels("b", &[]), vec![chunk(&a[..60]), chunk(&a[30..])]);
        // a stream label named like the key
        src.add(labels("c", &[("level", "x")]), vec![chunk(&a)]);
        let got = read_cut(&src, "a");
        assert_eq!(got.len(), 100);
        assert!(got.iter().all(|e| e.cut && &e.line[..] == b"level=info"));
        for app in ["b", "c"] {
            let got = read_cut(&src, app);
            assert_eq!(got.len(), 100, "{app}");
            assert!(
                got.iter()
                    .all(|e| !e.cut && e.line == line(e.ts).as_bytes()),
                "{app}"
            );
        }
    }

    /// Tokens of generated logfmt-ish lines (`{n}` becomes a number):
    /// plain pairs, and tokens a cut must not stop after.
    const TOKENS: [&str; 16] = [
        "level=info",
        "level=warn",
        "level=e{n}",
        "level=",
        "level",
        "level=\"a b\"",
        "msg=\"x y\"",
        "ts={n}",
        "lat={n}ms",
        "status={n}",
        "a=b=c",
        "=x",
        "x\ty=1",
        "q=\"open",
        "level_extracted=z",
        "status=5{n}x",
    ];

    /// Range queries whose pipelines let lines be cut (and two that do not).
    const CUT_QUERIES: [&str; 7] = [
        r#"sum by (level) (count_over_time({app="a"} | logfmt [10s]))"#,
        r#"sum by (level, status) (count_over_time({app="a"} | logfmt --strict [10s]))"#,
        r#"sum by (level) (sum_over_time({app="a"} | logfmt | unwrap duration(lat) [10s]))"#,
        r#"max_over_time({app="a"} | logfmt | unwrap duration(lat) [10s]) by (level)"#,
        r#"sum by (status) (rate({app="a"} | logfmt | level != "warn" [10s]))"#,
        r#"sum by (level_extracted) (count_over_time({app="a"} | logfmt [10s]))"#,
        r#"sum by (level) (bytes_over_time({app="a"} | logfmt [10s]))"#,
    ];

    /// Members of generated JSON-ish lines (`{n}` becomes a number): flat
    /// scalar members, and members or values that a projection must not
    /// pass over (invalid, nested, escaped, keys a parser sanitises).
    const MEMBERS: [&str; 20] = [
        r#""level": "info""#,
        r#""level": "warn""#,
        r#""level":"e{n}""#,
        r#""lat": {n}"#,
        r#""lat": -{n}.5"#,
        r#""lat": 0{n}"#,
        r#""lat":{n}e3"#,
        r#""ok": true"#,
        r#""ok": nul"#,
        r#""msg": "a b {n}""#,
        r#""msg": "x"y""#,
        r#""user": {"name": "u{n}"}"#,
        r#""a-b": {n}"#,
        r#""level2": 1"#,
        r#""status": "{n}""#,
        r#""level": null"#,
        r#""level": {n}"#,
        r#""x": [1, 2]"#,
        "junk",
        r#""level_extracted": "z""#,
    ];

    /// Range queries whose pipelines let JSON lines be projected (and one
    /// that does not).
    const JSON_QUERIES: [&str; 8] = [
        r#"sum by (level) (count_over_time({app="a"} | json [10s]))"#,
        r#"sum by (level, ok) (count_over_time({app="a"} | json [10s]))"#,
        r#"sum by (level) (sum_over_time({app="a"} | json | unwrap lat [10s]))"#,
        r#"quantile_over_time(0.5, {app="a"} | json | unwrap lat [10s]) by (level)"#,
        r#"sum by (status) (rate({app="a"} | json | level != "warn" [10s]))"#,
        r#"sum by (a_b, user_name, level_extracted) (count_over_time({app="a"} | json [10s]))"#,
        r#"sum by (__error__, msg) (count_over_time({app="a"} | json [10s]))"#,
        r#"sum by (level) (bytes_over_time({app="a"} | json [10s]))"#,
    ];

    /// Whether `queries` answer alike over `entries` in chunks of blocks of
    /// `block_size` (read through `PreparedSource`, which may cut lines)
    /// and over the same entries in memory, whole.
    fn same_answers(
        entries: &[(i64, String)],
        block_size: usize,
        queries: &[&str],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        use sluice_logql::engine::{evaluate, Limits, QueryParams};
        use sluice_logql::source::MemSource;
        let cfg = sluice_storage::ChunkConfig {
            block_size,
            ..Default::default()
        };
        let mut c = sluice_storage::MemChunk::new(&cfg);
        for (ts, line) in entries {
            c.append(*ts, line.as_bytes(), &[]);
        }
        let labels = Labels::new(vec![("app".to_string(), "a".to_string())]);
        let mut src = PreparedSource::default();
        src.add(labels.clone(), vec![ChunkData::decode(c.encode()).unwrap()]);
        let whole = MemSource {
            streams: vec![(
                labels,
                entries
                    .iter()
                    .map(|(ts, l)| Entry {
                        ts: *ts,
                        line: l.clone().into(),
                        metadata: Vec::new(),
                        cut: false,
                    })
                    .collect(),
            )],
        };
        let p = QueryParams {
            start: 0,
            end: 30_000_000_000,
            step: 10_000_000_000,
            direction: Direction::Forward,
            limit: 100,
        };
        for q in queries {
            let expr = sluice_logql::parser::parse_expr(q).unwrap();
            let got = evaluate(&expr, &src, &p, &Limits::default());
            let want = evaluate(&expr, &whole, &p, &Limits::default());
            proptest::prop_assert_eq!(got, want, "{}", q);
        }
        Ok(())
    }

    /// The line `line(layout, n)` of each pick `(layout, n)`, 0.1 s apart.
    fn timed(picks: &[(usize, u64)], line: impl Fn(usize, u64) -> String) -> Vec<(i64, String)> {
        picks
            .iter()
            .enumerate()
            .map(|(i, &(l, n))| (i as i64 * 100_000_000, line(l, n)))
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Metric queries over chunks whose lines the reader may cut answer
        /// exactly as over the same entries read whole.
        #[test]
        fn cut_reads_answer_as_whole_lines(
            layouts in proptest::collection::vec(
                proptest::collection::vec(0..TOKENS.len(), 1..6),
                1..4,
            ),
            picks in proptest::collection::vec((0usize..4, 0u64..400), 40..240),
            block_size in 300usize..3000,
        ) {
            let entries = timed(&picks, |l, n| {
                let tokens: Vec<String> = layouts[l % layouts.len()]
                    .iter()
                    .map(|&t| TOKENS[t].replace("{n}", &n.to_string()))
                    .collect();
                tokens.join(" ")
            });
            same_answers(&entries, block_size, &CUT_QUERIES)?;
        }

        /// Metric queries over chunks whose JSON lines the reader may
        /// project answer exactly as over the same entries read whole.
        #[test]
        fn projected_reads_answer_as_whole_lines(
            layouts in proptest::collection::vec(
                (proptest::collection::vec(0..MEMBERS.len(), 0..6), 0usize..2, 0usize..6),
                1..4,
            ),
            picks in proptest::collection::vec((0usize..4, 0u64..400), 40..240),
            block_size in 300usize..3000,
        ) {
            let entries = timed(&picks, |l, n| {
                let (members, sep, end) = &layouts[l % layouts.len()];
                let members: Vec<String> = members
                    .iter()
                    .map(|&m| MEMBERS[m].replace("{n}", &n.to_string()))
                    .collect();
                let sep = [", ", ","][*sep];
                // mostly a closing brace; else none, a trailing comma,
                // bytes after it, or spaces around the object
                let (open, close) = [
                    ("{", "}"), ("{", "}"), ("{", "}"),
                    ("{", ""), ("{", ",}"), (" {", "} x"),
                ][*end];
                format!("{open}{}{close}", members.join(sep))
            });
            same_answers(&entries, block_size, &JSON_QUERIES)?;
        }
    }
}
