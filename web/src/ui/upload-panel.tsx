/** The upload queue: per-file and total progress with rate and ETA; pause, resume, cancel, retry; files to pick again after a reload. */
import { useEffect, useState } from 'preact/hooks';
import { formatEta, formatRate, formatSize } from '../format.js';
import type { UploadItem, UploadManager } from '../uploads.js';

const STATE_TEXT: Record<UploadItem['state'], string> = {
  queued: 'waiting',
  running: 'uploading',
  paused: 'paused',
  done: 'done',
  failed: 'failed',
  canceled: 'cancelled',
  'needs-file': 'interrupted: pick the file again to resume',
};

/**
 * `said`: the page's own announcement (the Files page's "3 selected"), in the same live region
 * (one region per page), in a span of its own: a screen reader reads the part that changed.
 */
/** Said of an upload whose requests are being tried again. */
const WAITING = 'the server does not answer: trying again';

/** `offer`: said after `said` while it lasts; its going away is not said. */
export function UploadPanel(props: { uploads: UploadManager; title?: string; said?: string; offer?: string }) {
  const { uploads } = props;
  const [, setTick] = useState(0);
  const bump = () => setTick((n) => n + 1);
  const [problems, setProblems] = useState<Record<string, string>>({});
  useEffect(() => uploads.subscribe(bump), [uploads]);
  // Always in the page: a live region added with its text is often not read out.
  const status = (
    <p role="status" class="visually-hidden">
      <span>{spoken(uploads.items)}</span>
      {props.said && <span> {props.said}</span>}
      {props.offer && <span> {props.offer}</span>}
    </p>
  );
  if (uploads.items.length === 0) return status;
  const t = uploads.totals();
  // Bytes only when some count: a queue of only failed or cancelled files said "0 B of 0 B".
  const bytes = t.size > 0 || t.failed + t.canceled === 0 ? `${formatSize(t.done)} of ${formatSize(t.size)}` : undefined;
  const counts = [bytes, t.failed > 0 && `${t.failed} failed`, t.canceled > 0 && `${t.canceled} cancelled`].filter(Boolean).join(' · ');
  const conflicts = uploads.items.filter((it) => it.state === 'failed' && it.conflict && it.file);
  return (
    <>
      {status}
      <section class="uploads" aria-labelledby="uploads-title">
        <h2 id="uploads-title">{props.title ?? 'Uploads'}</h2>
        <p class="total">
          <progress max={Math.max(1, t.size)} value={t.done} aria-label="Total upload progress" /> {counts}
          {t.active > 0 && (t.waiting ? ` · ${WAITING}` : t.rate === undefined ? ' · measuring speed' : ` · ${formatRate(t.rate)} · ${formatEta(t.etaSeconds)}`)}
        </p>
        <ul>
          {uploads.items.map((it) => (
            <li key={it.id} class={`upload ${it.state}`} data-state={it.state} aria-label={`${it.path}: ${STATE_TEXT[it.state]}`}>
              <div class="row">
                <span class="path">{it.path}</span>
                <span class="state">{STATE_TEXT[it.state]}</span>
              </div>
              <progress max={Math.max(1, it.size)} value={it.state === 'done' ? it.size : it.bytesDone} aria-label={`Progress of ${it.name}`} />
              <div class="row small">
                <span>
                  {formatSize(it.state === 'done' ? it.size : it.bytesDone)} of {formatSize(it.size)}
                  {it.state === 'running' && it.retrying && ` · ${WAITING}`}
                  {it.state === 'running' && !it.retrying && it.rate > 0 && ` · ${formatRate(it.rate)} · ${formatEta(it.etaSeconds)}`}
                  {it.state === 'done' && !it.e2e && it.bytesSent < it.size && ` · ${formatSize(it.size - it.bytesSent)} already on the server`}
                  {it.note && (it.state === 'running' || it.state === 'done') && ` · ${it.note}`}
                </span>
                <span class="actions">
                  {(it.state === 'running' || it.state === 'queued') && (
                    <button type="button" onClick={() => uploads.pause(it.id)} aria-label={`Pause ${it.name}`}>
                      Pause
                    </button>
                  )}
                  {it.state === 'paused' && (
                    <button type="button" onClick={() => uploads.resume(it.id)} aria-label={`Resume ${it.name}`}>
                      Resume
                    </button>
                  )}
                  {it.state === 'failed' && it.file && it.conflict && (
                    <button type="button" onClick={() => uploads.replace(it.id)} aria-label={`Replace ${it.path}`}>
                      Replace
                    </button>
                  )}
                  {it.state === 'failed' && it.file && !it.conflict && !it.final && (
                    <button type="button" onClick={() => uploads.retry(it.id)} aria-label={`Retry ${it.name}`}>
                      Retry
                    </button>
                  )}
                  {it.state === 'needs-file' && (
                    <label class="button">
                      Choose {it.name}
                      <input
                        type="file"
                        class="visually-hidden"
                        data-testid={`resume-${it.name}`}
                        onChange={(e) => {
                          const f = (e.currentTarget as HTMLInputElement).files?.[0];
                          if (f) setProblems({ ...problems, [it.id]: uploads.provideFile(it.id, f) ?? '' });
                        }}
                      />
                    </label>
                  )}
                  {it.state !== 'done' && it.state !== 'canceled' && (
                    <button type="button" onClick={() => uploads.cancel(it.id)} aria-label={`Cancel ${it.name}`}>
                      Cancel
                    </button>
                  )}
                </span>
              </div>
              {(it.error || problems[it.id]) && (
                <p class="error" role="alert">
                  {it.error || problems[it.id]}
                </p>
              )}
            </li>
          ))}
        </ul>
        {conflicts.length > 1 && (
          <button type="button" onClick={() => conflicts.forEach((it) => uploads.replace(it.id))}>
            Replace all {conflicts.length}
          </button>
        )}{' '}
        <button type="button" onClick={() => uploads.clearFinished()}>
          Clear finished
        </button>
      </section>
    </>
  );
}

/**
 * What a screen reader hears of the queue: that it is uploading, then how it ended ("Uploads:
 * 3 done, 1 failed."). Not the bytes, rates and times, which change several times a second;
 * each failure is announced by its own message.
 */
function spoken(items: UploadItem[]): string {
  if (items.length === 0) return '';
  if (items.some((i) => i.state === 'running' || i.state === 'queued')) return 'Uploading…';
  const counts = new Map<UploadItem['state'], number>();
  for (const i of items) counts.set(i.state, (counts.get(i.state) ?? 0) + 1);
  return `Uploads: ${[...counts].map(([state, n]) => `${n} ${STATE_TEXT[state]}`).join(', ')}.`;
}
