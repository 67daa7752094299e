/** Text from elsewhere (a server, other users) made safe to print on a terminal. */
import { escapeControls } from '../core/control-chars.js';

/**
 * `text` with every control character a terminal would act on written out as `\xNN`.
 * Listings and error messages show what others wrote (every user's token names to
 * an admin, the user names of failed logins in the audit log): printed raw, an ESC sequence
 * in one would clear the admin's screen, hide rows, retitle the window or set the clipboard
 * (OSC 52) to a command waiting to be pasted.
 */
export function terminalSafe(text: string): string {
  return escapeControls(text);
}

/** {@link terminalSafe} for a message that may run over several lines: its line breaks are kept. */
export function terminalSafeLines(text: string): string {
  return text.split('\n').map(terminalSafe).join('\n');
}
