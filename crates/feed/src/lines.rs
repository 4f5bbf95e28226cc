//! A fast CSV record splitter for market data files.
//!
//! Market data CSVs are plain: one record per line, comma-separated, rarely quoted.
//! This splitter finds lines and commas with `memchr` over a large buffer and hands
//! out field slices without copying. Lines with quotes take a slower path that
//! handles RFC 4180 quoting (`"a,b"`, `""` for a quote) within the line.

use std::io::Read;

use memchr::memchr;

/// One record: fields as byte slices, and its 1-based line number.
pub(crate) struct CsvLines<R: Read> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    line: u64,
    fields: Vec<(usize, usize)>,
    unquoted: Vec<u8>,
    from_unquoted: bool,
}

/// A malformed line.
#[derive(Debug)]
pub(crate) enum LineError {
    Io(std::io::Error),
    Quote(u64),
    /// The first line holds a carriage return that does not end it: the file
    /// uses CR-only (classic Mac) line endings and would read as one record.
    BareCr,
}

impl From<std::io::Error> for LineError {
    fn from(e: std::io::Error) -> Self {
        LineError::Io(e)
    }
}

#[inline(always)]
fn trim(b: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && (b[s] == b' ' || b[s] == b'\t') {
        s += 1;
    }
    while e > s && (b[e - 1] == b' ' || b[e - 1] == b'\t') {
        e -= 1;
    }
    (s, e)
}

impl<R: Read> CsvLines<R> {
    pub(crate) fn new(reader: R) -> CsvLines<R> {
        CsvLines {
            reader,
            buf: vec![0; 1 << 18],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            fields: Vec::with_capacity(16),
            unquoted: Vec::new(),
            from_unquoted: false,
        }
    }

    /// Line number of the last record returned.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Number of fields of the last record.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// Field `i` of the last record.
    #[inline]
    pub(crate) fn field(&self, i: usize) -> &[u8] {
        let (s, e) = self.fields[i];
        if self.from_unquoted {
            &self.unquoted[s..e]
        } else {
            &self.buf[s..e]
        }
    }

    fn next_line(&mut self) -> Result<Option<(usize, usize)>, LineError> {
        loop {
            if let Some(pos) = memchr(b'\n', &self.buf[self.start..self.end]) {
                let l = (self.start, self.start + pos);
                self.start += pos + 1;
                return Ok(Some(l));
            }
            if self.eof {
                if self.start < self.end {
                    let l = (self.start, self.end);
                    self.start = self.end;
                    return Ok(Some(l));
                }
                return Ok(None);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
            let n = self.reader.read(&mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            } else {
                self.end += n;
            }
        }
    }

    /// Advances to the next non-blank record; `false` at the end of the input.
    pub(crate) fn advance(&mut self) -> Result<bool, LineError> {
        loop {
            let Some((s, mut e)) = self.next_line()? else {
                return Ok(false);
            };
            self.line += 1;
            if e > s && self.buf[e - 1] == b'\r' {
                e -= 1;
            }
            let mut s = s;
            if self.line == 1 {
                if self.buf[s..e].starts_with(b"\xEF\xBB\xBF") {
                    s += 3;
                }
                // Checked on the header only (free for the rows): in a CR-only
                // file the whole file is this one line.
                if memchr(b'\r', &self.buf[s..e]).is_some() {
                    return Err(LineError::BareCr);
                }
            }
            if self.buf[s..e].iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            self.fields.clear();
            // One scalar pass: lines are short, so this beats several memchr calls.
            self.from_unquoted = false;
            let mut fs = s;
            let mut quoted = false;
            for (k, &b) in self.buf[s..e].iter().enumerate() {
                if b == b',' {
                    let r = trim(&self.buf, fs, s + k);
                    self.fields.push(r);
                    fs = s + k + 1;
                } else if b == b'"' {
                    quoted = true;
                    break;
                }
            }
            if quoted {
                self.fields.clear();
                self.split_quoted(s, e)?;
            } else {
                let r = trim(&self.buf, fs, e);
                self.fields.push(r);
            }
            return Ok(true);
        }
    }

    fn split_quoted(&mut self, s: usize, e: usize) -> Result<(), LineError> {
        self.from_unquoted = true;
        self.unquoted.clear();
        let line = &self.buf[s..e];
        let mut i = 0;
        loop {
            // Skip leading spaces.
            while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
                i += 1;
            }
            let fs = self.unquoted.len();
            if i < line.len() && line[i] == b'"' {
                i += 1;
                loop {
                    match line.get(i) {
                        None => return Err(LineError::Quote(self.line)),
                        Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                            self.unquoted.push(b'"');
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            self.unquoted.push(c);
                            i += 1;
                        }
                    }
                }
                while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
                    i += 1;
                }
                if i < line.len() && line[i] != b',' {
                    return Err(LineError::Quote(self.line));
                }
            } else {
                while i < line.len() && line[i] != b',' {
                    if line[i] == b'"' {
                        return Err(LineError::Quote(self.line));
                    }
                    self.unquoted.push(line[i]);
                    i += 1;
                }
            }
            let fe = self.unquoted.len();
            let (a, b) = trim(&self.unquoted, fs, fe);
            self.fields.push((a, b));
            if i >= line.len() {
                return Ok(());
            }
            i += 1; // the comma
            if i == line.len() {
                self.fields.push((self.unquoted.len(), self.unquoted.len()));
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<(u64, Vec<String>)> {
        let mut r = CsvLines::new(text.as_bytes());
        let mut out = Vec::new();
        while r.advance().unwrap() {
            out.push((
                r.line(),
                (0..r.len())
                    .map(|i| String::from_utf8(r.field(i).to_vec()).unwrap())
                    .collect(),
            ));
        }
        out
    }

    #[test]
    fn splits_plain_quoted_blank_and_crlf() {
        let got = records("\u{feff}a,b , c\r\n\n1,\"x,y\",\"say \"\"hi\"\"\"\n2,,\n");
        assert_eq!(
            got,
            vec![
                (1, vec!["a".into(), "b".into(), "c".into()]),
                (3, vec!["1".into(), "x,y".into(), "say \"hi\"".into()]),
                (4, vec!["2".into(), "".into(), "".into()]),
            ]
        );
        let mut r = CsvLines::new("a,\"b\n".as_bytes());
        assert!(matches!(r.advance(), Err(LineError::Quote(1))));
    }

    #[test]
    fn cr_only_line_endings_are_refused_not_read_as_one_record() {
        let mut r = CsvLines::new("ts,close\r1,2\r3,4\r".as_bytes());
        assert!(matches!(r.advance(), Err(LineError::BareCr)));
    }

    #[test]
    fn lines_longer_than_the_buffer() {
        let long = "x".repeat(600_000);
        let text = format!("h\n{long}\nlast");
        let got = records(&text);
        assert_eq!(got[1].1[0].len(), 600_000);
        assert_eq!(got[2], (3, vec!["last".into()]));
    }
}
