//! The Arrow entry point of intake (`ClaimIntake::arrow`): record batches built in memory, as
//! the Python package and a streaming reader feed them, pass the same row rules as files.
//! Parquet cannot store a negative Decimal scale, so those are checked here.

use arrow::array::{ArrayRef, Decimal128Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema};
use medsettle::intake::{Aliases, ClaimIntake, ClaimsRead, PersonsRead, RejectCode, read_person_arrow};
use medsettle::model::{Money, time};
use std::sync::Arc;

fn text(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn dec(v: &[i128], scale: i8) -> ArrayRef {
    Arc::new(Decimal128Array::from(v.to_vec()).with_precision_and_scale(38, scale).unwrap())
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|c| c.1).collect()).unwrap()
}

fn persons(aliases: &Aliases) -> PersonsRead {
    let mut p = PersonsRead::default();
    let b = batch(vec![
        ("psn_no", text(&["P1"])),
        ("insutype", text(&["390"])),
        ("psn_type", text(&["elderly"])),
        ("brdy", text(&["1950-03-01"])),
        ("district", text(&["tianning"])),
    ]);
    read_person_arrow(&mut p, &b, 1, 1, "persons (memory)", aliases).unwrap();
    assert!(p.rejects.is_empty());
    p
}

#[test]
fn in_memory_batches_with_negative_scales_and_zoned_times() {
    let aliases = Aliases::new();
    let persons = persons(&aliases);
    let intake = ClaimIntake::new(&persons, &aliases);
    // Row 1: Decimal(38,-3) unscaled 2 = 2,000 yuan in every part that is not zero.
    // Row 2: unscaled 10^8 at scale -3 = 100,000,000,000 yuan: beyond the bound.
    // Times: 1767214800000 ms with a zone = 2025-12-31 21:00 UTC = 2026-01-01 05:00 Shanghai.
    let b = batch(vec![
        ("setl_id", text(&["S1", "S2"])),
        ("psn_no", text(&["P1", "P1"])),
        ("mdtrt_id", text(&["M1", "M2"])),
        ("setl_time", Arc::new(TimestampMillisecondArray::from(vec![1_767_214_800_000, 1_767_214_800_000]).with_timezone("Asia/Shanghai"))),
        ("med_type", text(&["11", "11"])),
        ("medfee_sumamt", dec(&[2, 100_000_000], -3)),
        ("fulamt_ownpay_amt", dec(&[0, 0], -3)),
        ("overlmt_selfpay", dec(&[0, 0], -3)),
        ("preselfpay_amt", dec(&[0, 0], -3)),
        ("inscp_scp_amt", dec(&[2, 100_000_000], -3)),
        ("hosp_lv", text(&["2", "2"])),
    ]);
    let mut read = ClaimsRead::default();
    read.add(intake.arrow(&b, 0, 1, "claims (memory)").unwrap());
    assert_eq!(read.table.claims.len(), 1);
    let c = &read.table.claims[0];
    assert_eq!(c.medfee_sumamt(), Money::from_yuan(2_000));
    assert_eq!(time::format_datetime(c.setl_time), "2026-01-01 05:00:00");
    assert_eq!(time::year_of(c.setl_time), 2026);
    assert_eq!(read.rejects.len(), 1);
    assert_eq!(read.rejects[0].code, RejectCode::AmountOutOfRange);
    assert_eq!((read.rejects[0].line, read.rejects[0].setl_id.as_str()), (2, "S2"));
}

#[test]
fn a_column_of_the_wrong_type_is_one_error() {
    let aliases = Aliases::new();
    let persons = persons(&aliases);
    let intake = ClaimIntake::new(&persons, &aliases);
    let b = batch(vec![
        ("setl_id", text(&["S1"])),
        ("psn_no", text(&["P1"])),
        ("mdtrt_id", text(&["M1"])),
        ("setl_time", Arc::new(arrow::array::BooleanArray::from(vec![true]))),
        ("med_type", text(&["11"])),
        ("medfee_sumamt", dec(&[1], 2)),
        ("fulamt_ownpay_amt", dec(&[0], 2)),
        ("overlmt_selfpay", dec(&[0], 2)),
        ("preselfpay_amt", dec(&[0], 2)),
        ("inscp_scp_amt", dec(&[1], 2)),
    ]);
    let e = intake.arrow(&b, 0, 1, "claims (memory)").err().unwrap().to_string();
    assert_eq!(e, "claims (memory): column setl_time has type Boolean; expected a timestamp, a date or text");
}
