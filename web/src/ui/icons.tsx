/** Small inline icons (SVG, not emoji: they render the same without an emoji font). Decorative: hidden from screen readers. */
export function FolderIcon() {
  return (
    <svg class="icon" aria-hidden="true" width="16" height="16" viewBox="0 0 16 16">
      <path d="M1 3.5A1.5 1.5 0 0 1 2.5 2h3.6l1.5 1.5h5.9A1.5 1.5 0 0 1 15 5v7.5a1.5 1.5 0 0 1-1.5 1.5h-11A1.5 1.5 0 0 1 1 12.5z" fill="#5f8dd3" />
    </svg>
  );
}

export function FileIcon() {
  return (
    <svg class="icon" aria-hidden="true" width="16" height="16" viewBox="0 0 16 16">
      <path d="M3 1.5h6.5L13 5v9.5H3z" fill="#fff" stroke="#6b7380" />
      <path d="M9.5 1.5V5H13" fill="none" stroke="#6b7380" />
    </svg>
  );
}

export function Logo() {
  return (
    <svg class="logo" aria-hidden="true" width="22" height="22" viewBox="0 0 32 32">
      <rect width="32" height="32" rx="6" fill="#0b57d0" />
      <path d="M6 20h20l-3 5H9z M11 18V9l8 9z" fill="#fff" />
    </svg>
  );
}
