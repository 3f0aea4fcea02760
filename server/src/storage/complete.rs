//! uploadComplete (SPEC.md §3): the checks of the part list, the answer (size, etag), the record that
//! lets a repeated request get the same answer, and the replay of that answer.

use std::collections::BTreeMap;

use partup_wire::{CompletePart, CompleteResponse, ErrorCode, multipart_etag};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::hooks::event::{Event, EventKind};
use crate::storage::backend::{Assembled, AssemblyPlan, StoredPart};
use crate::storage::content_index::Fingerprint;
use crate::storage::records::{self, CompletedRecord, Record, UploadRecord};
use crate::storage::space_floor::Write;
use crate::storage::upload_id::UploadId;
use crate::storage::uploads::Storage;

/// A completed object about to be shown: the answer, and what the content index files it under
/// (`None`: not evenly split, so no client could declare it).
pub(super) struct Published {
    pub response: CompleteResponse,
    pub fingerprint: Option<Fingerprint>,
}

/// How often an assembly the store dropped to a concurrent one is tried in all.
const ASSEMBLY_ATTEMPTS: u32 = 3;

impl Storage {
    /// Assembles the object from the listed parts (see [`check_complete_list`]) or, for an upload
    /// that already completed with the same list, answers the recorded result again.
    pub async fn complete(
        &self,
        upload_id: &UploadId,
        listed: &[CompletePart],
        caller: &Caller,
    ) -> AppResult<CompleteResponse> {
        let _lock = self.backend.lock_upload(upload_id).await;
        if let Some(done) = self.recorded_answer(upload_id, listed, caller).await? {
            return done;
        }
        // Refused before claiming: an unknown upload costs no lease.
        self.upload_in_progress(upload_id, caller).await?;
        // Another instance may be assembling this upload (a retry that reached another instance)
        // or aborting it: wait for it, then answer from what it left.
        let _claim = self.claim_upload(upload_id).await?;
        if let Some(done) = self.recorded_answer(upload_id, listed, caller).await? {
            return done;
        }
        self.assemble_claimed(upload_id, listed, caller).await
    }

    /// [`Storage::complete`] of an upload this request has claimed and found not completed.
    async fn assemble_claimed(
        &self,
        upload_id: &UploadId,
        listed: &[CompletePart],
        caller: &Caller,
    ) -> AppResult<CompleteResponse> {
        let record = self.upload_in_progress(upload_id, caller).await?;
        let stored = self.parts_of(upload_id, &record).await?;
        let chosen = check_complete_list(listed, &stored, self.limits.min_part_size)?;
        let plan = AssemblyPlan {
            upload_id: upload_id.clone(),
            etag: multipart_etag(chosen.iter().map(|p| &p.digest.md5)),
            size: chosen.iter().map(|p| p.digest.size).sum(),
            parts: chosen.into_iter().cloned().collect(),
            resource_key: record.resource_key.clone(),
        };
        // Completes of one key take turns here, so no other complete of the key lands between the
        // `replace: false` check and the assembly it allows (within this process).
        let _key_lock = self.key_locks.lock(&plan.resource_key).await;
        self.may_assemble(&record, plan.size).await?;
        // The copy needs room for the whole object while the parts are still stored.
        self.space.ensure_room(plan.size, Write::Object).await?;
        let mut attempts = 0;
        let assembled = loop {
            let failure = match self.assemble_upload(&record, &plan).await {
                Ok(assembled) => break assembled,
                Err(failure) => failure,
            };
            // Another instance may have completed the same upload (and removed its parts) meanwhile.
            if let Some(done) = self.completed_record(upload_id).await? {
                return replay(upload_id, done, listed);
            }
            attempts += 1;
            if !failure.assemble_again || attempts == ASSEMBLY_ATTEMPTS {
                return Err(failure.error);
            }
            tracing::info!(%upload_id, "the store lost the assembly of this object to a concurrent one; assembling again");
        };
        let fingerprint = Fingerprint::of_parts(&plan.parts, &plan.etag);
        let response = CompleteResponse {
            resource_key: plan.resource_key,
            size: plan.size,
            parts: plan.parts.len() as u32,
            etag: plan.etag,
        };
        let published = Published {
            response,
            fingerprint,
        };
        self.publish(upload_id, &record, published, assembled, listed)
            .await
    }

    /// Stores the `upload.completed` event, then shows the assembled object with its completion
    /// record (together, where the store can hold the object back), frees the parts and files the
    /// object in the content index.
    pub(super) async fn publish(
        &self,
        upload_id: &UploadId,
        record: &UploadRecord,
        Published {
            response,
            fingerprint,
        }: Published,
        assembled: Assembled,
        listed: &[CompletePart],
    ) -> AppResult<CompleteResponse> {
        // Stored before the completion record: from that record on the upload is final. (A held
        // object that is dropped because this fails is discarded: nothing changed.)
        let event = Event::new(EventKind::Completed, upload_id, record).with_object(&response);
        self.emit(event).await?;
        let done = CompletedRecord {
            parts: listed.to_vec(),
            response,
            upload: Some(record.clone()),
        };
        let content = records::encode(&done)?;
        match assembled {
            // The object and its record appear together, or (on failure) neither.
            Assembled::Held(object) => object.publish(&content).await?,
            // A store that showed the object already: the record follows it.
            Assembled::Shown => {
                self.backend
                    .write_record(upload_id, Record::Completed, &content)
                    .await?
            }
        }
        // From here the upload is no longer in progress: its slot is free for another.
        self.admission.release(upload_id);
        self.unindex_upload(upload_id, record).await;
        // The parts are no longer needed; if freeing them fails, the sweep removes the whole upload
        // with its completion record later.
        if let Err(e) = self.discard_upload_parts(upload_id, record).await {
            tracing::warn!(%upload_id, "could not discard parts after completing: {e}");
        }
        if let Some(fingerprint) = fingerprint {
            self.index_content(&done.response.resource_key, fingerprint)
                .await;
        }
        Ok(done.response)
    }

    /// The answer to a complete of an upload that already completed (see [`replay`]).
    async fn recorded_answer(
        &self,
        upload_id: &UploadId,
        listed: &[CompletePart],
        caller: &Caller,
    ) -> AppResult<Option<AppResult<CompleteResponse>>> {
        let Some(done) = self.completed_record(upload_id).await? else {
            return Ok(None);
        };
        self.owned_record(upload_id, done.upload.clone(), caller)
            .await?;
        Ok(Some(replay(upload_id, done, listed)))
    }

    async fn completed_record(&self, upload_id: &UploadId) -> AppResult<Option<CompletedRecord>> {
        match self
            .backend
            .read_record(upload_id, Record::Completed)
            .await?
        {
            Some(content) => Ok(Some(records::decode(Record::Completed, &content)?)),
            None => Ok(None),
        }
    }
}

/// The answer to a complete of an upload that already completed: the recorded one for the same
/// list, `NoSuchUpload` for another.
fn replay(
    upload_id: &UploadId,
    done: CompletedRecord,
    listed: &[CompletePart],
) -> AppResult<CompleteResponse> {
    if same_part_list(&done.parts, listed) {
        Ok(done.response)
    } else {
        Err(AppError::new(
            ErrorCode::NoSuchUpload,
            format!("upload '{upload_id}' was already completed with a different part list"),
        ))
    }
}

/// SPEC.md §3's checks after "the upload exists", in order, against the parts stored: a non-empty list,
/// strictly ascending numbers, every part stored with the listed md5, every part but the last at
/// least `min_part_size`. Returns the stored parts in list order.
pub fn check_complete_list<'a>(
    listed: &[CompletePart],
    stored: &'a BTreeMap<u32, StoredPart>,
    min_part_size: u64,
) -> AppResult<Vec<&'a StoredPart>> {
    if listed.is_empty() {
        return Err(AppError::invalid_argument(
            "completeMultipartUpload is empty; list the parts to assemble",
        ));
    }
    if let Some(pair) = listed
        .windows(2)
        .find(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(AppError::new(
            ErrorCode::InvalidPartOrder,
            format!(
                "part numbers must be strictly ascending, but {} is followed by {}",
                pair[0].part_number, pair[1].part_number
            ),
        ));
    }
    let chosen = listed
        .iter()
        .map(|want| stored_as_listed(want, stored))
        .collect::<AppResult<Vec<_>>>()?;
    if let Some(part) = chosen[..chosen.len() - 1]
        .iter()
        .find(|part| part.digest.size < min_part_size)
    {
        return Err(AppError::new(
            ErrorCode::EntityTooSmall,
            format!(
                "part {} is {} bytes; every part but the last must be at least {min_part_size} bytes",
                part.part_number, part.digest.size
            ),
        ));
    }
    Ok(chosen)
}

/// The stored part `want` lists, when it was uploaded with the listed md5; else `InvalidPart`.
fn stored_as_listed<'a>(
    want: &CompletePart,
    stored: &'a BTreeMap<u32, StoredPart>,
) -> AppResult<&'a StoredPart> {
    match stored.get(&want.part_number) {
        None => Err(AppError::new(
            ErrorCode::InvalidPart,
            format!(
                "part {} was never uploaded (or its upload did not finish)",
                want.part_number
            ),
        )),
        Some(part) if partup_wire::parse_md5_hex(&want.md5) != Some(part.digest.md5) => {
            Err(AppError::new(
                ErrorCode::InvalidPart,
                format!(
                    "part {} is stored with md5 {}, not {}; upload it again or list the right md5",
                    want.part_number,
                    partup_wire::md5_to_hex(&part.digest.md5),
                    want.md5
                ),
            ))
        }
        Some(part) => Ok(part),
    }
}

/// Whether a repeated uploadComplete asks for the same list as the one that completed the upload
/// (numbers as numbers, md5s ignoring case).
pub fn same_part_list(a: &[CompletePart], b: &[CompletePart]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.part_number == y.part_number && x.md5.eq_ignore_ascii_case(&y.md5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::backend::PartDigest;

    fn stored(parts: &[(u32, u8, u64)]) -> BTreeMap<u32, StoredPart> {
        parts
            .iter()
            .map(|&(part_number, fill, size)| {
                let digest = PartDigest {
                    md5: [fill; 16],
                    size,
                };
                let source = String::new();
                let part = StoredPart {
                    part_number,
                    digest,
                    source,
                };
                (part_number, part)
            })
            .collect()
    }

    fn listed(parts: &[(u32, u8)]) -> Vec<CompletePart> {
        parts
            .iter()
            .map(|&(part_number, fill)| CompletePart {
                part_number,
                md5: partup_wire::md5_to_hex(&[fill; 16]),
            })
            .collect()
    }

    fn code(result: AppResult<Vec<&StoredPart>>) -> ErrorCode {
        result.expect_err("refused").code
    }

    #[test]
    fn the_checks_come_in_spec_order() {
        let parts = stored(&[(1, 1, 10), (2, 2, 100), (5, 5, 1)]);
        assert_eq!(
            code(check_complete_list(&[], &parts, 10)),
            ErrorCode::InvalidArgument
        );
        // Out of order beats a missing part; a missing part beats a small one.
        let unordered = listed(&[(2, 2), (1, 1), (9, 9)]);
        assert_eq!(
            code(check_complete_list(&unordered, &parts, 10)),
            ErrorCode::InvalidPartOrder
        );
        let missing = listed(&[(1, 1), (3, 3)]);
        assert_eq!(
            code(check_complete_list(&missing, &parts, 1000)),
            ErrorCode::InvalidPart
        );
        let wrong_md5 = listed(&[(1, 7)]);
        assert_eq!(
            code(check_complete_list(&wrong_md5, &parts, 10)),
            ErrorCode::InvalidPart
        );
        let small = listed(&[(1, 1), (2, 2), (5, 5)]);
        assert_eq!(
            code(check_complete_list(&small, &parts, 11)),
            ErrorCode::EntityTooSmall
        );
        // Gaps are fine and the last part may be small.
        let chosen = check_complete_list(&small, &parts, 10).expect("complete");
        let numbers: Vec<u32> = chosen.iter().map(|p| p.part_number).collect();
        assert_eq!(numbers, [1, 2, 5]);
    }

    #[test]
    fn a_repeated_list_matches_ignoring_md5_case() {
        let mut upper = listed(&[(1, 0xab)]);
        upper[0].md5 = upper[0].md5.to_uppercase();
        assert!(same_part_list(&listed(&[(1, 0xab)]), &upper));
        assert!(!same_part_list(
            &listed(&[(1, 0xab)]),
            &listed(&[(2, 0xab)])
        ));
        assert!(!same_part_list(
            &listed(&[(1, 0xab)]),
            &listed(&[(1, 0xab), (2, 1)])
        ));
    }
}
