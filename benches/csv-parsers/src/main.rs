// Single-thread parse throughput of one CSV file (benches/csv_parsers.sh): the csv crate
// (ByteRecord), arrow-csv (all columns Utf8, 64k-row batches), and medsettle's way: every
// line one row, fields cut with memchr (the file read into memory first, timed apart).
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("file");
    let which = std::env::args().nth(2).unwrap_or_default();
    let bytes = std::fs::metadata(&path).unwrap().len() as f64;
    let t = Instant::now();
    let (rows, fields) = match which.as_str() {
        "csv" => {
            let mut r = csv::ReaderBuilder::new().has_headers(true).from_path(&path).unwrap();
            let mut rec = csv::ByteRecord::new();
            let (mut n, mut f) = (0u64, 0u64);
            while r.read_byte_record(&mut rec).unwrap() {
                n += 1;
                f += rec.len() as u64;
            }
            (n, f)
        }
        "arrow" => {
            let file = std::fs::File::open(&path).unwrap();
            let mut hdr = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(std::fs::File::open(&path).unwrap()), &mut hdr).unwrap();
            let fields: Vec<arrow_schema::Field> =
                hdr.trim_end().split(',').map(|n| arrow_schema::Field::new(n, arrow_schema::DataType::Utf8, true)).collect();
            let schema = Arc::new(arrow_schema::Schema::new(fields));
            let r = arrow_csv::ReaderBuilder::new(schema).with_header(true).with_batch_size(65536).build(file).unwrap();
            let (mut n, mut f) = (0u64, 0u64);
            for b in r {
                let b = b.unwrap();
                n += b.num_rows() as u64;
                f += (b.num_rows() * b.num_columns()) as u64;
            }
            (n, f)
        }
        _ => {
            let data = std::fs::read(&path).unwrap();
            eprintln!("  (read into memory: {:.2} s)", t.elapsed().as_secs_f64());
            let (mut n, mut f) = (0u64, 0u64);
            let mut s = memchr::memchr(b'\n', &data).unwrap() + 1;
            let mut fields: Vec<(u32, u32)> = Vec::with_capacity(64);
            while s < data.len() {
                let e = memchr::memchr(b'\n', &data[s..]).map_or(data.len(), |k| s + k);
                fields.clear();
                let mut i = s;
                loop {
                    let end = memchr::memchr(b',', &data[i..e]).map_or(e, |k| i + k);
                    fields.push(((i - s) as u32, (end - s) as u32));
                    if end == e {
                        break;
                    }
                    i = end + 1;
                }
                n += 1;
                f += fields.len() as u64;
                s = e + 1;
            }
            (n, f)
        }
    };
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{which:>6}: {rows} rows, {fields} fields in {secs:.2} s: {:.0} MB/s, {:.2}M rows/s",
        bytes / secs / 1e6,
        rows as f64 / secs / 1e6
    );
}
