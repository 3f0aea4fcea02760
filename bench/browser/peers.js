// The page side of the peers rows: one in-memory File of random bytes, uploaded by partup and by the
// uploaders a user would pick instead, each timed here with performance.now() from the call that
// starts the upload to the one that says it is done. Driven by bench/browser/peers.mjs.
import init, { Uploader } from '../pkg/partup.js';
import { Uppy, AwsS3 } from './uppy.min.mjs';

await init();
let file = null;

/** Runs `start(resolve, reject)` and returns its milliseconds with what it resolved to. */
async function timed(start) {
  const started = performance.now();
  const value = await new Promise(start);
  return { ms: performance.now() - started, ...value };
}

window.peers = {
  /** Builds the File every contender uploads: `size` random bytes, in memory (no disk read in any
   * contender's path). Its MD5 comes from hash-wasm, which none of the contenders uses, so the
   * stored copies are checked against a digest no uploader computed. */
  async makeFile(size) {
    const bytes = new Uint8Array(size);
    // getRandomValues fills at most 65,536 bytes a call.
    for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
    const md5 = await hashwasm.md5(bytes);
    file = new File([bytes], 'peers.bin', { type: 'application/octet-stream' });
    return { size: file.size, md5 };
  },

  /** partup's wasm client to the partup-server that serves this page (default hashing workers). */
  async partup(resourceKey, partSize, concurrency) {
    const uploader = new Uploader({ endpoint: '/v1/multipart/parallel', partSize, concurrency, resume: false });
    // When the phase turned to completing: the rest is uploadComplete (assembly and fsync on the
    // server), which the row's detail reports.
    let completingAt = null;
    let retries = 0;
    const onProgress = p => {
      if (p.phase === 'completing') completingAt ??= performance.now();
      retries = p.retries;
    };
    const started = performance.now();
    const result = await uploader.upload(file, { resourceKey, onProgress }).done;
    const ended = performance.now();
    uploader.free();
    return { ms: ended - started, completeMs: completingAt === null ? null : ended - completingAt, retries, size: result.size };
  },

  /** tus-js-client with its defaults (chunkSize Infinity: one PATCH with the whole file), or with
   * `chunkSize` bytes a PATCH (one after another: the tus protocol appends at the offset). */
  tus(endpoint, chunkSize) {
    const options = { endpoint, metadata: { filename: file.name, filetype: file.type } };
    if (chunkSize) options.chunkSize = chunkSize;
    return timed((resolve, reject) => {
      const upload = new tus.Upload(file, {
        ...options,
        onError: reject,
        onSuccess: () => resolve({ url: upload.url }),
      });
      upload.start();
    });
  },

  /** Uppy (core + @uppy/aws-s3) straight to the S3 store, signing in the page with the store's key
   * through the plugin's getCredentials option (the bench's shortcut for an STS service).
   * `shouldUseMultipart: true` is the plugin's default for files over 100 MB, said outright so that
   * the quick run's smaller file goes up as multipart too; chunk size and `limit` are its defaults. */
  async uppy(s3Endpoint, region, accessKeyId, secretAccessKey) {
    const uppy = new Uppy();
    uppy.use(AwsS3, {
      s3Endpoint,
      region,
      shouldUseMultipart: true,
      getCredentials: () => ({ credentials: { accessKeyId, secretAccessKey, sessionToken: '' }, region }),
    });
    uppy.addFile({ name: file.name, type: file.type, data: file });
    const started = performance.now();
    const result = await uppy.upload();
    const ms = performance.now() - started;
    if (!result || result.failed?.length || result.successful?.length !== 1) {
      const why = result?.failed?.map(f => f.error).join('; ') || 'no result';
      uppy.destroy();
      throw new Error(`Uppy upload failed: ${why}`);
    }
    const { body, uploadURL } = result.successful[0].response;
    uppy.destroy();
    return { ms, key: body?.key, location: body?.location ?? uploadURL };
  },

  /** The ceiling: the File as one plain fetch POST to a sink that reads and discards it. */
  async raw(sinkUrl) {
    const started = performance.now();
    const response = await fetch(sinkUrl, { method: 'POST', body: file });
    const { size } = await response.json();
    return { ms: performance.now() - started, size };
  },
};
window.peersReady = true;
