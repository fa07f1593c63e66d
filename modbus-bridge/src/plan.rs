//! Polling plans: the points of a register map grouped into as few reads as Modbus allows
//! (contiguous or nearly contiguous addresses of one table merged, at most 125 registers or
//! 2000 bits per read), and the values decoded out of each read's answer. Pure, no I/O.

use crate::error::Error;
use crate::value::{decode, Layout, Value};
use serde::{Deserialize, Serialize};

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// FC 1.
    Coils,
    /// FC 2.
    DiscreteInputs,
    /// FC 3.
    HoldingRegisters,
    /// FC 4.
    InputRegisters,
}

impl Table {
    /// Whether the table holds bits.
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coils | Table::DiscreteInputs)
    }

    /// The most one read may take.
    pub fn max_quantity(self) -> u16 {
        if self.is_bits() {
            2000
        } else {
            125
        }
    }
}

/// A point of a register map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointDef {
    /// Its name (the key of its messages).
    pub name: String,
    /// Its table.
    pub table: Table,
    /// First address.
    pub address: u16,
    /// How it sits in its registers (ignored for bit tables).
    pub layout: Layout,
}

impl PointDef {
    fn width(&self) -> u16 {
        if self.table.is_bits() {
            1
        } else {
            self.layout.data_type.registers().max(1)
        }
    }
}

/// One read of a plan and the points it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Table.
    pub table: Table,
    /// First address.
    pub address: u16,
    /// Registers or bits.
    pub quantity: u16,
    /// Indexes into the point list given to [`plan`].
    pub points: Vec<usize>,
}

/// Groups `points` into reads, merging points of a table whose gap is at most `max_gap`
/// addresses (0: only touching ones).
///
/// # Examples
/// ```
/// use modbus_bridge::plan::{plan, PointDef, Table};
/// use modbus_bridge::value::{DataType, Layout};
/// let p = |a| PointDef { name: format!("p{a}"), table: Table::HoldingRegisters, address: a, layout: Layout::new(DataType::F32) };
/// let reads = plan(&[p(0), p(2), p(10), p(200)], 6).unwrap();
/// assert_eq!(reads.iter().map(|r| (r.address, r.quantity)).collect::<Vec<_>>(), [(0, 12), (200, 2)]);
/// ```
///
/// # Errors
/// [`Error::Layout`] for a point wider than one read or passing address 65535.
pub fn plan(points: &[PointDef], max_gap: u16) -> Result<Vec<Read>, Error> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].table, points[i].address));
    let mut reads: Vec<Read> = vec![];
    for i in order {
        let p = &points[i];
        let w = p.width();
        if w > p.table.max_quantity() || u32::from(p.address) + u32::from(w) > 0x1_0000 {
            return Err(Error::Layout(format!("point {:?} does not fit one read", p.name)));
        }
        let end = u32::from(p.address) + u32::from(w);
        if let Some(r) = reads.last_mut() {
            let r_end = u32::from(r.address) + u32::from(r.quantity);
            let fits = end.max(r_end) - u32::from(r.address) <= u32::from(p.table.max_quantity());
            if r.table == p.table && u32::from(p.address) <= r_end + u32::from(max_gap) && fits {
                r.quantity = (end.max(r_end) - u32::from(r.address)) as u16;
                r.points.push(i);
                continue;
            }
        }
        reads.push(Read { table: p.table, address: p.address, quantity: w, points: vec![i] });
    }
    Ok(reads)
}

/// The data of one read's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// From a bit table.
    Bits(Vec<bool>),
    /// From a register table.
    Registers(Vec<u16>),
}

/// The values of `read`'s points out of its answer `data`.
///
/// # Errors
/// [`Error::Layout`] when the answer is shorter than the read or of the other kind.
pub fn values(points: &[PointDef], read: &Read, data: &Data) -> Result<Vec<(String, Value)>, Error> {
    let mut out = Vec::with_capacity(read.points.len());
    for &i in &read.points {
        let p = &points[i];
        let at = usize::from(p.address - read.address);
        let v = match data {
            Data::Bits(b) if p.table.is_bits() => {
                Value::Bool(*b.get(at).ok_or_else(|| Error::Layout(format!("answer too short for {:?}", p.name)))?)
            }
            Data::Registers(r) if !p.table.is_bits() => {
                let w = usize::from(p.width());
                let regs =
                    r.get(at..at + w).ok_or_else(|| Error::Layout(format!("answer too short for {:?}", p.name)))?;
                decode(regs, &p.layout)?
            }
            _ => return Err(Error::Layout("answer of the other kind".into())),
        };
        out.push((p.name.clone(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::DataType;
    use proptest::prelude::*;

    fn pt(table: Table, address: u16, t: DataType) -> PointDef {
        PointDef { name: format!("{table:?}{address}"), table, address, layout: Layout::new(t) }
    }

    #[test]
    fn tables_and_limits_split_reads() {
        let pts = vec![
            pt(Table::Coils, 5, DataType::U16),
            pt(Table::HoldingRegisters, 0, DataType::U16),
            pt(Table::Coils, 6, DataType::U16),
            pt(Table::HoldingRegisters, 124, DataType::U32),
            pt(Table::InputRegisters, 0, DataType::U16),
        ];
        let reads = plan(&pts, 200).unwrap();
        let got: Vec<_> = reads.iter().map(|r| (r.table, r.address, r.quantity, r.points.clone())).collect();
        assert_eq!(
            got,
            vec![
                (Table::Coils, 5, 2, vec![0, 2]),
                (Table::HoldingRegisters, 0, 1, vec![1]),
                (Table::HoldingRegisters, 124, 2, vec![3]),
                (Table::InputRegisters, 0, 1, vec![4]),
            ]
        );
        let data = Data::Registers(vec![0x4148, 0]);
        let mut f = pts.clone();
        f[3].layout = Layout::new(DataType::F32);
        assert_eq!(values(&f, &reads[2], &data).unwrap(), vec![("HoldingRegisters124".into(), Value::Number(12.5))]);
        assert!(values(&f, &reads[2], &Data::Registers(vec![1])).is_err());
        assert!(values(&f, &reads[0], &data).is_err(), "bits expected");
        assert!(plan(&[pt(Table::HoldingRegisters, 65535, DataType::U32)], 0).is_err());
    }

    proptest! {
        /// Every point lands in exactly one read that covers it; no read is too long.
        #[test]
        fn reads_cover_every_point(addrs in proptest::collection::vec((0u16..3, 0u16..2000, 0u8..3), 1..60), gap in 0u16..20) {
            let tables = [Table::Coils, Table::HoldingRegisters, Table::InputRegisters];
            let types = [DataType::U16, DataType::F32, DataType::F64];
            let pts: Vec<_> = addrs.iter().map(|&(t, a, ty)| pt(tables[t as usize], a, types[ty as usize].clone())).collect();
            let reads = plan(&pts, gap).unwrap();
            let mut seen = vec![0; pts.len()];
            for r in &reads {
                prop_assert!(r.quantity <= r.table.max_quantity());
                for &i in &r.points {
                    seen[i] += 1;
                    let p = &pts[i];
                    prop_assert_eq!(p.table, r.table);
                    prop_assert!(p.address >= r.address);
                    prop_assert!(u32::from(p.address) + u32::from(p.width()) <= u32::from(r.address) + u32::from(r.quantity));
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
        }
    }
}
