// What every screen gets from the shell (main.ts).
import type { ServerInfoQuery } from './generated/graphql.js';

export interface Context {
  server: ServerInfoQuery['serverInfo'];
  authOff: boolean;
  /** Shows a message in the page's live region (announced to screen readers). */
  announce(text: string): void;
}

/** A screen: draws into `main`, returns what stops its timers and subscriptions. */
export type View = (main: HTMLElement, ctx: Context, params: string[]) => () => void;
