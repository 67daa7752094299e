/** Building blocks: modal dialogs, status messages, a confirmation. */
import type { ComponentChildren, RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../format.js';

/**
 * Drops anywhere in the window: those on an element `where` accepts go to `onDrop` (the
 * latest one given), the others are refused (no drop effect), so that the browser never opens a
 * dropped file in place of the page (cutting its uploads). A field keeps the browser's own
 * handling (a key file input takes a drop); an open dialog takes none.
 */
export function useWindowDrop(where: (target: Element) => boolean, onDrop: (data: DataTransfer, target: Element) => void, setDragging: (on: boolean) => void): void {
  const latest = useRef({ where, onDrop });
  latest.current = { where, onDrop };
  useEffect(() => {
    const targetOf = (e: DragEvent) => (e.target instanceof Element ? e.target : document.body);
    const inField = (e: DragEvent) => targetOf(e).closest('input, textarea') !== null;
    const ours = (e: DragEvent) => targetOf(e).closest('dialog, [role=dialog]') === null && latest.current.where(targetOf(e));
    const over = (e: DragEvent) => {
      if (inField(e)) return;
      e.preventDefault();
      const yes = ours(e);
      if (!yes && e.dataTransfer) e.dataTransfer.dropEffect = 'none';
      setDragging(yes);
    };
    const leave = (e: DragEvent) => {
      if (e.relatedTarget === null) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (inField(e)) return;
      e.preventDefault();
      setDragging(false);
      if (ours(e) && e.dataTransfer) latest.current.onDrop(e.dataTransfer, targetOf(e));
    };
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, []);
}

/**
 * A toolbar by the WAI-ARIA pattern (APG "Toolbar"): the whole bar is one Tab stop (the control
 * last focused in it, else its first), Left and Right go to the previous and next control
 * (wrapping round), Home and End to the first and last. Disabled and hidden controls are passed
 * over (a native disabled button cannot take focus); when the Tab stop's control becomes
 * disabled (Rename once nothing is selected), the first one takes over. Spread the returned props on
 * the element with role="toolbar".
 */
export function useToolbar<T extends HTMLElement>(): { ref: RefObject<T>; onKeyDown: (e: KeyboardEvent) => void; onFocusIn: (e: FocusEvent) => void } {
  const ref = useRef<T>(null);
  const current = useRef<HTMLElement | null>(null);
  const everyControl = () => Array.from(ref.current?.querySelectorAll<HTMLElement>('button, input, select, a[href]') ?? []).filter((c) => !c.hidden);
  const controls = () => everyControl().filter((c) => !(c as HTMLButtonElement).disabled);
  const rove = () => {
    const all = controls();
    if (!current.current || !all.includes(current.current)) current.current = all[0] ?? null;
    // The disabled too: one enabled again must not come back as a second Tab stop.
    for (const c of everyControl()) c.tabIndex = c === current.current ? 0 : -1;
  };
  // After every render: controls come, go and change their disabled state with the selection.
  useEffect(rove);
  return {
    ref,
    onFocusIn: (e) => {
      if (!controls().includes(e.target as HTMLElement)) return;
      current.current = e.target as HTMLElement;
      rove();
    },
    onKeyDown: (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
      const all = controls();
      const at = all.indexOf(e.target as HTMLElement);
      if (at < 0) return;
      const to = { ArrowRight: (at + 1) % all.length, ArrowLeft: (at - 1 + all.length) % all.length, Home: 0, End: all.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      all[to].focus();
    },
  };
}

let ids = 0;
/** A stable id for label/aria wiring. */
export function useId(prefix: string): string {
  const ref = useRef<string>();
  ref.current ??= `${prefix}-${++ids}`;
  return ref.current;
}

/**
 * A modal dialog (the native <dialog>: focus moves into it and stays there, Escape closes it,
 * the page behind is inert). `onClose` is called however it closes. Focus then goes back to
 * what had it when the dialog opened (the button that opened it): the browser does that for
 * a dialog that is closed, not for one removed from the page while open, which is how most
 * of ours go. When that element is gone or disabled (the Delete button once its rows went),
 * the page's main region takes it, so that the next Tab starts from there, not from the top.
 * `focusAfter`, asked once it closed, names another element to take it (see {@link Confirm}).
 */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; focusAfter?: () => HTMLElement | null }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId('dlg');
  // Read when it closes: the page's choice then, not when it opened.
  const focusAfter = useRef(props.focusAfter);
  focusAfter.current = props.focusAfter;
  useEffect(() => {
    const d = ref.current!;
    const opener = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
    if (!d.open) d.showModal();
    const close = () => props.onClose();
    d.addEventListener('close', close);
    return () => {
      d.removeEventListener('close', close);
      // After this render: the dialog's removal and any change it made (rows gone, a button disabled).
      setTimeout(() => returnFocus(focusAfter.current?.() ?? opener));
    };
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={titleId} class={props.wide ? 'wide' : ''}>
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
    </dialog>
  );
}

function returnFocus(opener: HTMLElement | null): void {
  // Another dialog took over (one dialog replaced by the next): it holds the focus now.
  if (document.querySelector('dialog[open]')) return;
  if (opener && opener.isConnected && !(opener as HTMLButtonElement).disabled && !opener.closest('[inert]')) {
    opener.focus();
    if (document.activeElement === opener) return;
  }
  focusMain();
}

/** Focus on the page's main region: a place to read and Tab on from, not a control. */
function focusMain(): void {
  const main = document.getElementById('main');
  if (!main) return;
  if (!main.hasAttribute('tabindex')) main.setAttribute('tabindex', '-1');
  main.focus();
}

/**
 * When the focused control is removed or disabled outside a dialog (Restore in the trash, a
 * listing reloading after an upload), the browser puts focus on the body and a screen reader
 * loses its place: it goes to the main region instead. Focus moved by the person, or into a
 * dialog, is left alone.
 */
export function rescueLostFocus(): void {
  document.addEventListener('focusout', (e) => {
    const lost = e.target as HTMLElement;
    queueMicrotask(() => {
      if ((!lost.isConnected || lost.matches(':disabled')) && document.activeElement === document.body && !document.querySelector('dialog[open]')) focusMain();
    });
  });
}

/** An error or a notice, announced to screen readers; `id` for the fields the error is about ({@link fieldError}). */
export function Message(props: { error?: unknown; notice?: string; id?: string }) {
  if (props.error !== undefined && props.error !== null) {
    return (
      <p class="error" role="alert" id={props.id}>
        {errorText(props.error)}
      </p>
    );
  }
  if (props.notice) {
    return (
      <p class="notice" role="status">
        {props.notice}
      </p>
    );
  }
  return null;
}

/**
 * What ties a field to its form's error (a `<Message>` with this `id`): marked invalid and
 * described by the message, so a screen reader on the field says what is wrong with it.
 */
export function fieldError(error: unknown, id: string): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  return error === undefined || error === null ? {} : { 'aria-invalid': true, 'aria-describedby': id };
}

/** Runs an async action from a form or button, with its error shown and the button disabled meanwhile. */
export function useAction(): [busy: boolean, error: unknown, run: (fn: () => Promise<void>) => Promise<void>, clear: () => void] {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return [busy, error, run, () => setError(undefined)];
}

/**
 * Asks before an action. `focusAfter`, once the action was done (not after Cancel), names what
 * takes the focus when its button went with the action (a revoked row's): {@link nextInList}.
 */
export function Confirm(props: { title: string; text: string; confirm: string; onConfirm: () => Promise<void>; onClose: () => void; danger?: boolean; focusAfter?: () => HTMLElement | null }) {
  const [busy, error, run] = useAction();
  const done = useRef(false);
  return (
    <Dialog title={props.title} onClose={props.onClose} focusAfter={() => (done.current && props.focusAfter ? props.focusAfter() : null)}>
      <p>{props.text}</p>
      <Message error={error} />
      <div class="buttons">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          class={props.danger ? 'danger' : 'primary'}
          disabled={busy}
          onClick={() =>
            run(async () => {
              await props.onConfirm();
              done.current = true;
              props.onClose();
            })
          }
        >
          {props.confirm}
        </button>
      </div>
    </Dialog>
  );
}

/**
 * A secret shown once (a new token or share link) with its Copy and Done buttons. The field
 * takes focus, its text selected, when it appears: the form that made it is gone, and focus
 * would otherwise fall out of the dialog onto the page's body. `children` go under the field
 * (what a link allows).
 */
export function ShownOnce(props: { label: string; value: string; copyLabel: string; onDone: () => void; children?: ComponentChildren }) {
  const id = useId('once');
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => field.current?.focus(), []);
  return (
    <>
      <label for={id}>{props.label}</label>
      <input id={id} ref={field} readOnly value={props.value} onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
      {props.children}
      <div class="buttons">
        <CopyButton text={props.value} label={props.copyLabel} />
        <button type="button" class="primary" onClick={props.onDone}>
          Done
        </button>
      </div>
    </>
  );
}

/**
 * Copies text to the clipboard and says whether it did. Where the Clipboard API is missing
 * (a page served over plain HTTP from another machine is not a secure context) or refuses,
 * the text is copied from a selection; when that fails too, the button says so instead of
 * "Copied" (a link or token is shown once: the person must know to copy it by hand).
 */
export function CopyButton(props: { text: string; label?: string }) {
  const [result, setResult] = useState<'copied' | 'failed'>();
  return (
    <>
      {result === 'failed' && (
        <span class="error" role="alert">
          Could not copy: select the text and copy it yourself.
        </span>
      )}
      <button
        type="button"
        onClick={async (e) => {
          const ok = await copyText(props.text, e.currentTarget.parentElement ?? document.body);
          setResult(ok ? 'copied' : 'failed');
          if (ok) setTimeout(() => setResult(undefined), 2000);
        }}
      >
        {result === 'copied' ? 'Copied' : (props.label ?? 'Copy')}
      </button>
    </>
  );
}

/** The Clipboard API, else a hidden selection copied with execCommand (inside `near`: a modal dialog makes the rest of the page inert). */
async function copyText(text: string, near: Element): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no Clipboard API in this context, or refused: try a selection
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.readOnly = true;
  area.setAttribute('aria-hidden', 'true');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  near.append(area);
  area.select();
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  } finally {
    area.remove();
  }
}

/**
 * A listing table: its header row ({@link ListingHead}) and `children` as its body's rows. In a
 * window narrower than the table (a phone) the table scrolls by itself, not the whole page.
 */
/**
 * A table of rows. With `empty`: a row saying "Loading…" until `rows` are there (unless their
 * load `failed`: its message is above), then `empty` when there are none (a slow answer showed
 * bare headers, read as an empty list).
 */
/**
 * A table of rows with a header of `columns` and a last, unnamed column for each row's actions.
 * `kind` names the table for the stylesheet, which keeps on a phone the columns that matter
 * in that table (styles.css, "narrow windows").
 */
export function Listing(props: { columns: string[]; children: ComponentChildren; kind?: string; rows?: readonly unknown[]; empty?: string; failed?: unknown }) {
  const { rows, empty } = props;
  const note = empty === undefined ? undefined : rows === undefined ? (props.failed ? undefined : 'Loading…') : rows.length === 0 ? empty : undefined;
  return (
    <div class="scroll-x">
      <table class={props.kind === undefined ? 'listing' : `listing ${props.kind}`}>
        <ListingHead columns={props.columns} />
        <tbody>
          {note !== undefined && (
            <tr>
              {/* Focusable by script: it takes the focus when a list's last row went (nextInList). */}
              <td colSpan={props.columns.length + 1} class="note" tabIndex={-1}>
                {note}
              </td>
            </tr>
          )}
          {props.children}
        </tbody>
      </table>
    </div>
  );
}

/**
 * Where focus goes once a row's button removed it (Revoke): the same button of the row now in
 * its place (`index`: the removed one's among them before), else of the row before, else the
 * list's note ("No share links yet."), else the page's heading. A keyboard user goes on from
 * there, where the main region would send them back to the top of the list.
 */
export function nextInList(kind: string, button: string, index: number): HTMLElement | null {
  const table = document.querySelector(`table.listing.${kind}`);
  if (!table) return null;
  const buttons = table.querySelectorAll<HTMLElement>(`tbody ${button}`);
  const next = buttons[Math.min(index, buttons.length - 1)] ?? table.querySelector<HTMLElement>('td.note');
  if (next) return next;
  const heading = document.querySelector<HTMLElement>('#main h1');
  heading?.setAttribute('tabindex', '-1');
  return heading;
}

/**
 * A name or path with chances to break at its own boundaries (after "/", "-" and "_", before
 * "."): a narrow column wraps "report-2026.pdf" as "report-" / "2026" / ".pdf", not mid-word.
 */
export function Breakable(props: { text: string }) {
  const parts = props.text.split(/(?<=[/_-])(?=.)|(?<=.)(?=\.)/);
  return <>{parts.map((p, i) => (i === 0 ? p : [<wbr key={i} />, p]))}</>;
}

/** An id Ferry made (`sh_66ddd64cb081f3e2`, `u-…`): a prefix, then random letters. */
const MADE_ID = /^([a-z]{1,4}[_-])([0-9A-Za-z]{6,64})$/;

/**
 * A target as the audit log names it: a path or name breaks at its boundaries ({@link
 * Breakable}); an id only where the line is full, its prefix kept with the first letters
 * after it (never "sh_" / "66ddd64c…": the prefix alone says nothing). A whole id is wider
 * than a phone's Event column.
 */
export function TargetText(props: { text: string }) {
  const id = MADE_ID.exec(props.text);
  if (!id) return <Breakable text={props.text} />;
  return (
    <span class="id">
      <span class="nowrap">{id[1] + id[2].slice(0, 4)}</span>
      {id[2].slice(4)}
    </span>
  );
}

/**
 * A date and time (formatDate's "2026-12-07 04:05"): where a column is narrow, the clock
 * time goes under the date, never "2026-" / "12-07" / "04:05".
 */
export function DateTime(props: { text: string }) {
  const at = props.text.lastIndexOf(' ');
  if (at < 0) return <>{props.text}</>;
  return (
    <>
      <span class="nowrap">{props.text.slice(0, at)}</span> <span class="nowrap">{props.text.slice(at + 1)}</span>
    </>
  );
}

/** A listing's header row: its columns (a leading `#`: a number column, aligned right) and an unnamed one for the row's actions. */
export function ListingHead(props: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {props.columns.map((c) =>
          c.startsWith('#') ? (
            <th scope="col" class="num" key={c}>
              {c.slice(1)}
            </th>
          ) : (
            <th scope="col" key={c}>
              {c}
            </th>
          ),
        )}
        <th scope="col">
          <span class="visually-hidden">Actions</span>
        </th>
      </tr>
    </thead>
  );
}
