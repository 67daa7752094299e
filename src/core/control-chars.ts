/**
 * Control characters written out as `\xNN`: for text that quotes a name someone else chose
 * (a file name may hold a newline, CR or an ESC sequence) in a message meant to stay one
 * line: a terminal, a log line, an error message that quotes the name.
 */

/** C0 controls but tab, DEL, and C1 controls (U+0080-U+009F: 8-bit CSI, OSC...). */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/** `text` with every control character but tab written out as `\xNN` (`a\nb` -> `a\x0ab`). */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
