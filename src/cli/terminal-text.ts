/** Text from elsewhere (a server, other users) made safe to print on a terminal. */

/** C0 controls but tab, DEL, and C1 controls (U+0080-U+009F: 8-bit CSI, OSC...). */
// eslint-disable-next-line no-control-regex
const TERMINAL_CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/**
 * `text` with every control character a terminal would act on written out as `\xNN`.
 * Listings and error messages show what others wrote (every user's token names to
 * an admin, the user names of failed logins in the audit log): printed raw, an ESC sequence
 * in one would clear the admin's screen, hide rows, retitle the window or set the clipboard
 * (OSC 52) to a command waiting to be pasted.
 */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** {@link terminalSafe} for a message that may run over several lines: its line breaks are kept. */
export function terminalSafeLines(text: string): string {
  return text.split('\n').map(terminalSafe).join('\n');
}
