//! Admission: the caps on uploads in progress (`--max-uploads` for the whole server,
//! `--max-uploads-per-client` for one client), written once.
//!
//! An in-memory registry of the uploads in progress and whose each is: loaded from the store at
//! start, kept in step by init (a [`Reservation`] taken before anything is written, bound to the
//! new id once it exists), complete, abort and the stale sweep (each [`Admission::release`]s), and
//! recounted from the store's listing by every sweep ([`Admission::resync`]), which also picks up
//! what other instances sharing an S3 bucket started and finished.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::{AppError, AppResult};
use crate::storage::records::UploadRecord;
use crate::storage::upload_id::UploadId;

/// What a client refused by a cap is told to wait before trying again: uploads end by completing
/// or aborting, which takes a person or a file transfer, not milliseconds; a minute keeps a client
/// that loops on 429 from hammering the server while still coming back soon.
pub const RETRY_AFTER_SECONDS: u64 = 60;

/// Who an upload counts against for `--max-uploads-per-client`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The `sub` of the token that started it.
    Sub(String),
    /// Without tokens: the client's address (see [`client_key`]).
    Address(String),
    /// Neither is known (a record of an earlier version): counts against the total only.
    Unknown,
}

impl Owner {
    /// The owner a stored upload record names.
    pub fn of_record(record: &UploadRecord) -> Owner {
        match (&record.sub, &record.client) {
            (Some(sub), _) => Owner::Sub(sub.clone()),
            (None, Some(client)) => Owner::Address(client.clone()),
            (None, None) => Owner::Unknown,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Owner::Sub(_) => "your token's sub",
            Owner::Address(_) => "your address",
            Owner::Unknown => "this client",
        }
    }
}

/// The key an anonymous client's uploads are counted under: its IPv4 address, or the /64 network
/// of an IPv6 one (one host is usually given a whole /64, so counting single v6 addresses would let
/// it take as many slots as it likes). `None` (the serving loop gave no address) is one client.
pub fn client_key(address: Option<IpAddr>) -> String {
    match address.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        None => "unknown".to_owned(),
    }
}

/// The two caps.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    pub max_uploads: usize,
    pub max_uploads_per_client: usize,
}

#[derive(Default)]
struct Registry {
    /// Every upload in progress, with its owner and when this registry learnt of it.
    uploads: HashMap<UploadId, (Owner, Instant)>,
    /// Reservations of inits under way, per owner (counted like uploads).
    reserved: HashMap<Owner, usize>,
    /// Uploads per owner, reservations included.
    per_owner: HashMap<Owner, usize>,
    /// Uploads released since the last resync began (so a listing taken before their release does
    /// not bring them back).
    released: HashMap<UploadId, Instant>,
}

impl Registry {
    fn total(&self) -> usize {
        self.uploads.len() + self.reserved.values().sum::<usize>()
    }

    fn add(&mut self, owner: &Owner) {
        *self.per_owner.entry(owner.clone()).or_default() += 1;
    }

    fn remove(&mut self, owner: &Owner) {
        if let Some(count) = self.per_owner.get_mut(owner) {
            *count -= 1;
            if *count == 0 {
                self.per_owner.remove(owner);
            }
        }
    }

    fn unreserve(&mut self, owner: &Owner) {
        if let Some(count) = self.reserved.get_mut(owner) {
            *count -= 1;
            if *count == 0 {
                self.reserved.remove(owner);
            }
        }
        self.remove(owner);
    }
}

/// The registry of uploads in progress and the caps it enforces.
pub struct Admission {
    limits: AdmissionLimits,
    registry: Mutex<Registry>,
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            registry: Mutex::default(),
        })
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Nothing panics while holding it; a poisoned lock still holds consistent counts.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for a new upload of `owner`, or refuses with `429 TooManyUploads` naming the
    /// cap that is reached. The slot is the reservation's until it is bound or dropped.
    pub fn admit(self: &Arc<Self>, owner: Owner) -> AppResult<Reservation> {
        let mut registry = self.registry();
        let limits = self.limits;
        if registry.total() >= limits.max_uploads {
            return Err(AppError::too_many_uploads(
                format!(
                    "the server has {} uploads in progress, its limit (--max-uploads); complete or abort uploads, or retry later",
                    limits.max_uploads
                ),
                RETRY_AFTER_SECONDS,
            ));
        }
        let mine = registry.per_owner.get(&owner).copied().unwrap_or(0);
        if owner != Owner::Unknown && mine >= limits.max_uploads_per_client {
            return Err(AppError::too_many_uploads(
                format!(
                    "{} has {mine} uploads in progress, the limit per client (--max-uploads-per-client); complete or abort some before starting more",
                    owner.describe()
                ),
                RETRY_AFTER_SECONDS,
            ));
        }
        *registry.reserved.entry(owner.clone()).or_default() += 1;
        registry.add(&owner);
        Ok(Reservation {
            admission: self.clone(),
            owner: Some(owner),
        })
    }

    /// Counts an upload found in the store (at start, or by a resync).
    fn insert(registry: &mut Registry, upload_id: UploadId, owner: Owner, since: Instant) {
        if registry.uploads.contains_key(&upload_id) {
            return;
        }
        registry.add(&owner);
        registry.uploads.insert(upload_id, (owner, since));
    }

    /// Frees the slot of an upload that completed, was aborted or swept (a no-op for one not
    /// counted).
    pub fn release(&self, upload_id: &UploadId) {
        let mut registry = self.registry();
        if let Some((owner, _)) = registry.uploads.remove(upload_id) {
            registry.remove(&owner);
        }
        registry.released.insert(upload_id.clone(), Instant::now());
    }

    /// Makes the registry what a listing of the store taken from `listing_began` on shows: uploads
    /// listed but not counted are added (`owner_of` gives the owner of those), uploads counted but
    /// no longer listed are dropped, except those this registry learnt of after the listing began
    /// (an init racing the listing) or released since (a complete racing it).
    pub fn resync(&self, listing_began: Instant, listed: HashMap<UploadId, Owner>) {
        let mut registry = self.registry();
        let listed_ids: HashSet<UploadId> = listed.keys().cloned().collect();
        let gone: Vec<UploadId> = registry
            .uploads
            .iter()
            .filter(|(id, (_, since))| !listed_ids.contains(*id) && *since <= listing_began)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some((owner, _)) = registry.uploads.remove(&id) {
                registry.remove(&owner);
            }
        }
        for (id, owner) in listed {
            if !registry.released.contains_key(&id) {
                Self::insert(&mut registry, id, owner, listing_began);
            }
        }
        registry.released.retain(|_, at| *at > listing_began);
    }

    /// Ids counted now, so a resync need only read the records of new ones.
    pub fn counted(&self) -> HashMap<UploadId, Owner> {
        let registry = self.registry();
        registry
            .uploads
            .iter()
            .map(|(id, (owner, _))| (id.clone(), owner.clone()))
            .collect()
    }

    /// Uploads in progress counted now (reservations included), for logs and tests.
    pub fn in_progress(&self) -> usize {
        self.registry().total()
    }
}

/// A slot taken by [`Admission::admit`] for an init under way; dropped unbound, it is freed.
pub struct Reservation {
    admission: Arc<Admission>,
    owner: Option<Owner>,
}

impl Reservation {
    /// Who the upload will count against.
    pub fn owner(&self) -> &Owner {
        self.owner.as_ref().unwrap_or(&Owner::Unknown)
    }

    /// The new upload exists: its slot is now the upload's, until [`Admission::release`].
    pub fn bind(mut self, upload_id: &UploadId) {
        let Some(owner) = self.owner.take() else {
            return;
        };
        let mut registry = self.admission.registry();
        registry.unreserve(&owner);
        Admission::insert(&mut registry, upload_id.clone(), owner, Instant::now());
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            self.admission.registry().unreserve(&owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use partup_wire::ErrorCode;

    fn admission(total: usize, per_client: usize) -> Arc<Admission> {
        Admission::new(AdmissionLimits {
            max_uploads: total,
            max_uploads_per_client: per_client,
        })
    }

    fn sub(name: &str) -> Owner {
        Owner::Sub(name.to_owned())
    }

    #[test]
    fn each_cap_refuses_with_429_and_names_itself() {
        let caps = admission(3, 2);
        let a1 = caps.admit(sub("a")).unwrap();
        let _a2 = caps.admit(sub("a")).unwrap();
        let refused = caps.admit(sub("a")).err().unwrap();
        assert_eq!(refused.code, ErrorCode::TooManyUploads);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECONDS));
        assert!(refused.message.contains("--max-uploads-per-client"));
        let _b1 = caps.admit(sub("b")).unwrap();
        let refused = caps.admit(sub("c")).err().unwrap();
        assert!(
            refused.message.contains("--max-uploads)"),
            "{}",
            refused.message
        );
        // A reservation dropped unbound (an init that failed) frees its slot.
        drop(a1);
        assert_eq!(caps.in_progress(), 2);
        caps.admit(sub("c")).unwrap();
    }

    #[test]
    fn a_bound_upload_holds_its_slot_until_released() {
        let caps = admission(10, 1);
        let id = UploadId::generate().unwrap();
        caps.admit(sub("a")).unwrap().bind(&id);
        assert!(caps.admit(sub("a")).is_err());
        caps.release(&id);
        caps.release(&id);
        assert_eq!(caps.in_progress(), 0);
        caps.admit(sub("a")).unwrap();
    }

    #[test]
    fn a_resync_follows_the_listing_but_keeps_what_raced_it() {
        let caps = admission(10, 10);
        let (old, raced, released, elsewhere) = (
            UploadId::generate().unwrap(),
            UploadId::generate().unwrap(),
            UploadId::generate().unwrap(),
            UploadId::generate().unwrap(),
        );
        caps.admit(sub("a")).unwrap().bind(&old);
        caps.admit(sub("a")).unwrap().bind(&released);
        let began = Instant::now();
        // After the listing began: an init (not listed) and a complete (still listed).
        caps.admit(sub("a")).unwrap().bind(&raced);
        caps.release(&released);
        let listed = HashMap::from([(released.clone(), sub("a")), (elsewhere.clone(), sub("b"))]);
        caps.resync(began, listed);
        let counted = caps.counted();
        assert!(!counted.contains_key(&old), "gone from the store");
        assert!(counted.contains_key(&raced), "started during the listing");
        assert!(
            !counted.contains_key(&released),
            "completed during the listing"
        );
        assert_eq!(counted.get(&elsewhere), Some(&sub("b")));
        assert_eq!(caps.in_progress(), 2);
    }

    #[test]
    fn anonymous_clients_count_by_ipv4_address_or_ipv6_network() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(Some(v4)), "192.0.2.7");
        assert_eq!(client_key(Some(mapped)), "192.0.2.7");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(Some(a)), client_key(Some(b)));
        assert_eq!(client_key(Some(a)), "2001:db8:1:2::/64");
        assert_eq!(client_key(None), "unknown");
    }
}
