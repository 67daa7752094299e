/**
 * The person's SSH public keys, with which they log in to the server's SFTP front (sftp, scp,
 * rclone): list, add by pasting a public key line, remove. The server checks each key
 * (src/server/sftp/authorized-keys.ts) and says what is wrong with one it refuses.
 */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { addSshKeys, listSshKeys, removeSshKey } from '../../../src/client/account-api.js';
import type { SshKeyInfo } from '../../../src/core/protocol.js';
import { formatDate } from '../format.js';
import { Breakable, Confirm, Listing, Message, useAction, useId } from './common.js';
import { escapeControls } from '../../../src/core/control-chars.js';

export function SshKeys(props: { api: FerryApi; user: string }) {
  const { api, user } = props;
  const [keys, setKeys] = useState<SshKeyInfo[]>();
  const [loadError, setLoadError] = useState<unknown>();
  const [text, setText] = useState('');
  const [notice, setNotice] = useState<string>();
  const [removing, setRemoving] = useState<SshKeyInfo>();
  const [reload, setReload] = useState(0);
  const [busy, error, run] = useAction();
  const ids = { key: useId('sk'), heading: useId('skh') };
  useEffect(() => {
    listSshKeys(api, user).then(setKeys, setLoadError);
  }, [user, reload]);
  return (
    <section aria-labelledby={ids.heading}>
      <h2 id={ids.heading}>SSH keys</h2>
      <p class="hint">Keys that log in as you over SFTP (sftp, scp, rclone), when this server runs its SFTP front.</p>
      <Message error={loadError} />
      <Listing kind="keys" columns={['Key', 'Comment', 'Added', 'Last used']} rows={keys} empty="You have no SSH keys." failed={loadError}>
        {keys?.map((k) => (
          <tr key={k.id}>
            <td class="long">
              <span class="key-type">{k.type}</span> <code>{k.fingerprint}</code>
            </td>
            <td class="long">
              <Breakable text={escapeControls(k.comment)} />
            </td>
            <td>{formatDate(k.createdAt)}</td>
            <td>{formatDate(k.lastUsedAt)}</td>
            <td>
              <button type="button" class="danger" onClick={() => setRemoving(k)} aria-label={`Remove SSH key ${k.fingerprint}`}>
                Remove
              </button>
            </td>
          </tr>
        ))}
      </Listing>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            setNotice(undefined);
            const added = await addSshKeys(api, user, text);
            setText('');
            setNotice(added.length === 1 ? `Added ${added[0].fingerprint}.` : `Added ${added.length} keys.`);
            setReload((n) => n + 1);
          });
        }}
      >
        <label for={ids.key}>Public key (a line of ~/.ssh/id_ed25519.pub)</label>
        <textarea id={ids.key} required rows={3} spellcheck={false} placeholder="ssh-ed25519 AAAA… you@laptop" value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />
        <Message error={error} notice={notice} />
        <button type="submit" class="primary" disabled={busy}>
          Add key
        </button>
      </form>
      {removing && (
        <Confirm
          title="Remove SSH key"
          text={`Remove ${removing.fingerprint}${removing.comment ? ` (${escapeControls(removing.comment)})` : ''}? It no longer logs in.`}
          confirm="Remove"
          danger
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await removeSshKey(api, user, removing.id);
            setNotice(undefined);
            setReload((n) => n + 1);
          }}
        />
      )}
    </section>
  );
}
