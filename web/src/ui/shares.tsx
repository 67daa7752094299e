/** The person's share links: what they point at, how they are limited, and revoking them. */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { listShares, revokeShare } from '../../../src/client/account-api.js';
import type { ShareInfo } from '../../../src/core/protocol.js';
import { formatDate, formatSize } from '../format.js';
import { Breakable, Confirm, Listing, Message, nextInList } from './common.js';
import { escapeControls } from '../../../src/core/control-chars.js';

function status(s: ShareInfo): string {
  if (s.revokedAt !== null) return 'revoked';
  if (s.expiresAt !== null && s.expiresAt <= Date.now()) return 'expired';
  if (s.maxUses !== null && s.uses >= s.maxUses) return 'used up';
  if (s.maxBytes !== null && s.bytesReceived >= s.maxBytes) return 'full';
  return 'active';
}

/**
 * A link's kind in the words of its dialog; with when it was made, what tells apart links to
 * the same file (their Revoke buttons were all "Revoke link Notes (/Notes)").
 */
function kindOf(s: ShareInfo): string {
  return s.kind === 'upload' ? 'drop box' : 'download link';
}

/** What made the link; revoking that token revokes the link. "-": not recorded (an older link). */
function madeWith(s: ShareInfo): string {
  const m = s.madeWith;
  if (!m) return '-';
  if (m.kind === 'token') return `token ${m.tokenName === null ? m.tokenId : `${escapeControls(m.tokenName)} (${m.tokenId})`}`;
  return m.kind === 'session' ? 'web session' : 'password';
}

export function SharesPage(props: { api: FerryApi }) {
  const [shares, setShares] = useState<ShareInfo[]>();
  const [error, setError] = useState<unknown>();
  // `row`: its place among the Revoke buttons (a revoked link has none), for the focus once it went.
  const [revoking, setRevoking] = useState<{ link: ShareInfo; row: number }>();
  useEffect(() => {
    listShares(props.api).then(setShares, setError);
  }, []);
  return (
    <main id="main">
      <h1>Share links</h1>
      <p class="hint">Create links from the Files page (select a file or folder, then Share). A link's address is shown once, when it is made.</p>
      <Message error={error} />
      <Listing kind="shares" columns={['Name', 'Path', 'Kind', 'Expires', '#Uses', '#Received', 'Status', 'Made with']} rows={shares} empty="No share links yet." failed={error}>
        {shares?.map((s) => (
          <tr key={s.id}>
            <td class="long">
              <Breakable text={escapeControls(s.name)} />
              {/* A space before it: the cell read "report.pdfpassword" to a screen reader. */}
              {s.hasPassword && (
                <>
                  {' '}
                  <span class="tag">password</span>
                </>
              )}
              {/* A phone shows no Path or Kind column: four links to one folder read "Notes" four times. */}
              <span class="phone-only hint">
                {kindOf(s)}, created {formatDate(s.createdAt)}
              </span>
            </td>
            <td class="long">
              <Breakable text={s.path} />
            </td>
            <td>{s.kind === 'upload' ? 'drop box' : 'download'}</td>
            <td>{s.expiresAt === null ? 'never' : formatDate(s.expiresAt)}</td>
            <td class="num">
              {s.uses}
              {s.maxUses !== null && ` / ${s.maxUses}`}
            </td>
            <td class="num">
              {s.kind === 'upload' && formatSize(s.bytesReceived)}
              {s.kind === 'upload' && s.maxBytes !== null && ` / ${formatSize(s.maxBytes)}`}
            </td>
            <td>{status(s)}</td>
            <td class="long">{madeWith(s)}</td>
            <td class="actions">
              {status(s) !== 'revoked' && (
                <button type="button" class="danger" onClick={() => setRevoking({ link: s, row: shares.filter((o) => status(o) !== 'revoked').indexOf(s) })} aria-label={`Revoke link ${escapeControls(s.name)} (${s.path}): ${kindOf(s)}, created ${formatDate(s.createdAt)}`}>
                  Revoke
                </button>
              )}
            </td>
          </tr>
        ))}
      </Listing>
      {revoking && (
        <Confirm
          title="Revoke link"
          text={`Revoke the link to ${revoking.link.path}? It stops working at once.`}
          confirm="Revoke"
          danger
          onClose={() => setRevoking(undefined)}
          onConfirm={async () => {
            await revokeShare(props.api, revoking.link.id);
            // The list as it is now, before the dialog closes: focus goes to the next link's Revoke.
            setShares(await listShares(props.api));
          }}
          focusAfter={() => nextInList('shares', 'button.danger', revoking.row)}
        />
      )}
    </main>
  );
}
