//! A scenario's open connections by name. A scenario names a handful, and a
//! stream looks its connection up once per message, so they are a list
//! searched in order: comparing a short name costs less than hashing it.

use super::conn::HarnessConn;

#[derive(Default)]
pub struct Conns {
    open: Vec<(String, HarnessConn)>,
}

impl Conns {
    fn place(&self, name: &str) -> Option<usize> {
        self.open.iter().position(|(n, _)| n == name)
    }

    pub fn get(&self, name: &str) -> Option<&HarnessConn> {
        self.open.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut HarnessConn> {
        self.open
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }

    /// Takes connection `name` out.
    pub fn remove(&mut self, name: &str) -> Option<HarnessConn> {
        let place = self.place(name)?;
        Some(self.open.remove(place).1)
    }

    /// Adds `conn` as `name`, in place of any connection of that name.
    pub fn insert(&mut self, name: &str, conn: HarnessConn) {
        match self.get_mut(name) {
            Some(old) => *old = conn,
            None => self.open.push((name.to_string(), conn)),
        }
    }

    /// Every connection, in order of opening.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &HarnessConn)> {
        self.open.iter().map(|(n, c)| (n, c))
    }

    /// Every connection, to change, in order of opening.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut HarnessConn> {
        self.open.iter_mut().map(|(_, c)| c)
    }

    /// Takes every connection out, in order of opening.
    pub fn drain(&mut self) -> impl Iterator<Item = (String, HarnessConn)> + '_ {
        self.open.drain(..)
    }
}
