/**
 * scanbridge.js: a browser client for scanbridge's Streams API (ProGlove's
 * Insight WebSocket API). A dependency-free ES module, served by scanbridge at
 * `/scanbridge.js`.
 *
 *     import { connect } from "http://localhost:9998/scanbridge.js";
 *     const sb = connect();                       // ws://localhost:9998/
 *     sb.on("scan", (e) => console.log(e.scan_code, e.device_serial));
 *     await sb.feedback(serial, "positive");      // resolved when carried out
 *
 * - Reconnects by itself (exponential backoff with jitter, bounded).
 * - Resumes without loss: after a reconnect or a page reload it connects with
 *   `?after=<event_id>` of the last journaled event it received, so it gets
 *   every event it missed (the id is kept in sessionStorage). Events are
 *   delivered once (duplicates by event_id are dropped).
 * - Commands return Promises: resolved by the server's `command_ack` (the
 *   command was carried out), rejected with a {@link CommandError} by the
 *   `errors` event that answers it, or on timeout.
 * - Closes cleanly on `pagehide` (so the page can enter the back/forward
 *   cache) and reconnects on `pageshow`.
 *
 * @module scanbridge
 */

/** Events that are journaled by the server (the ones `?after=` can resume from). */
const JOURNALED = new Set(["scan", "scanner_state", "button_pressed"]);

/** Event types a listener can subscribe to. */
export const EVENT_TYPES = Object.freeze([
  "scan",
  "scanner_state",
  "button_pressed",
  "errors",
  "gateway_state",
  "command_ack",
  "event",
  "open",
  "close",
]);

/** `feedback!` actions, by short name. */
export const FEEDBACK = Object.freeze({
  positive: "FEEDBACK_POSITIVE",
  negative: "FEEDBACK_NEGATIVE",
  yellow: "FEEDBACK_SPECIAL_YELLOW",
  purple: "FEEDBACK_SPECIAL_PURPLE",
  cyan: "FEEDBACK_SPECIAL_CYAN",
});

/** `display!` refresh types. */
export const REFRESH_TYPES = Object.freeze(["DEFAULT", "FULL_REFRESH", "PARTIAL_REFRESH"]);

/** Trigger gestures for `trigger_block!`. */
export const GESTURES = Object.freeze([
  "TRIGGER_SINGLE_CLICK",
  "TRIGGER_DOUBLE_CLICK",
  "TRIGGER_TRIPLE_CLICK",
]);

/**
 * @typedef {object} StreamsEvent
 * @property {string} api_version
 * @property {string} event_type  scan, scanner_state, button_pressed, errors, gateway_state, command_ack
 * @property {string} event_id
 * @property {number} time_created  Unix milliseconds
 * @property {string} [scan_code]
 * @property {string} [device_serial]
 * @property {string} [gateway_serial]
 * @property {string} [device_connected_state]  STATE_CONNECTED | STATE_DISCONNECTED
 * @property {string} [trigger_gesture]
 * @property {string} [event_reference_id]  the command an errors / command_ack / gateway_state answers
 * @property {string} [error_code]
 * @property {string} [error_message]
 * @property {string} [error_severity]
 * @property {Array<object>} [device_connected_list]
 * @property {number} [seq]  extended set (ext / watch)
 * @property {string} [scan_decode_symbology]  extended set, e.g. "EAN-13"
 * @property {string} [scan_aim_id]  extended set, e.g. "]E0"
 * @property {string} [device_model]  extended set
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} [token]  sent as `?token=` (browsers cannot set headers on a WebSocket)
 * @property {boolean} [ext]  the extended field set (`seq`, `scan_decode_symbology`, ...)
 * @property {boolean} [watch]  a watcher (`?watch=1`): sees every event (extended set), but
 *   takes no scans from the apps: scans it sees are still delivered to an app that connects later
 * @property {boolean} [acks]  ask for `command_ack` events (default true; commands' Promises
 *   then resolve when carried out, otherwise as soon as sent)
 * @property {boolean} [resume]  resume with `?after=` (default true)
 * @property {string|null} [storageKey]  sessionStorage key for the last event id (default
 *   derived from the URL and mode; null: kept in memory only, lost on reload)
 * @property {number} [minDelay]  first reconnect delay in ms (default 250)
 * @property {number} [maxDelay]  longest reconnect delay in ms (default 10000)
 * @property {number} [openTimeout]  give up on a connection attempt after this many ms (default 10000)
 * @property {number} [commandTimeout]  default command timeout in ms (default 5000)
 * @property {boolean} [closeOnPageHide]  close on `pagehide`, reconnect on `pageshow` (default true)
 */

/**
 * @typedef {object} CommandOptions
 * @property {number} [timeout]  reject after this many ms without an answer
 * @property {number} [ttl]  `event_time_to_live_duration` (ms): not carried out within it
 *   = ERROR_TIMEOUT
 */

/**
 * @typedef {{id?: number, header?: string, text?: string}} DisplayField
 */

/** A command was answered with an `errors` event, timed out, or could not be sent. */
export class CommandError extends Error {
  /**
   * @param {string} message
   * @param {string} code  the `error_code` (ERROR_UNKNOWN, ERROR_DEVICE_NOT_FOUND, ...), or
   *   CLIENT_TIMEOUT / CLIENT_CLOSED / CLIENT_INVALID for errors of this client
   * @param {StreamsEvent|null} [event]  the `errors` event
   * @param {object|null} [command]  the command that failed
   */
  constructor(message, code, event = null, command = null) {
    super(message);
    this.name = "CommandError";
    this.code = code;
    this.event = event;
    this.command = command;
  }
}

const now = () => Date.now();

function uuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // crypto.randomUUID needs a secure context (https or localhost); getRandomValues does not.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function invalid(message) {
  return new CommandError(message, "CLIENT_INVALID");
}

function checkSerial(serial) {
  if (typeof serial !== "string" || serial.length < 1 || serial.length > 128) {
    throw invalid(`device_serial must be a string of 1-128 characters, not ${JSON.stringify(serial)}`);
  }
}

function checkMillis(value, name) {
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value) || value < 0) {
    throw invalid(`${name} must be an integer number of milliseconds >= 0`);
  }
  return value;
}

function checkGestures(list, name) {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list) || list.length > 15 || list.some((g) => !GESTURES.includes(g))) {
    throw invalid(`${name} must be a list of at most 15 of ${GESTURES.join(", ")}`);
  }
  return list;
}

/** The scanbridge server this module was loaded from, as a ws:// or wss:// URL. */
function defaultUrl() {
  const u = new URL("/", import.meta.url);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

function resolveUrl(url) {
  const u = new URL(url ?? "/", defaultUrl().replace(/^ws/, "http"));
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u;
}

function cleanup(u) {
  u.searchParams.delete("after");
  u.searchParams.delete("since");
  return u;
}

/**
 * A Streams API client. Create one with {@link connect}.
 */
export class ScanbridgeClient {
  /**
   * @param {string|URL} [url]  ws://, wss://, http(s):// or a path; default: the server
   *   that served this module
   * @param {ConnectOptions} [options]
   */
  constructor(url, options = {}) {
    const o = (this.options = {
      acks: true,
      resume: true,
      minDelay: 250,
      maxDelay: 10000,
      openTimeout: 10000,
      commandTimeout: 5000,
      closeOnPageHide: true,
      ...options,
    });
    const base = cleanup(resolveUrl(url));
    if (o.token) base.searchParams.set("token", o.token);
    if (o.ext) base.searchParams.set("ext", "1");
    if (o.watch) base.searchParams.set("watch", "1");
    if (o.acks) base.searchParams.set("acks", "1");
    /** The URL without `after` (the one each connection starts from). */
    this.baseUrl = base.href;
    const plain = new URL(base.href);
    plain.search = "";
    this.storageKey =
      o.storageKey === undefined
        ? `scanbridge:after:${o.watch ? "watch" : "app"}:${plain.href}`
        : o.storageKey;
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
    /** @type {Map<string, {resolve: Function, reject: Function, timer: any, command: object, sent: boolean, text: string}>} */
    this._pending = new Map();
    this._seen = new Set();
    this._seenOrder = [];
    /** The event_id of the last journaled event received (what `?after=` resumes from). */
    this.lastEventId = (o.resume && this._load()) || null;
    /** Connections opened so far. */
    this.opens = 0;
    /** 'connecting' | 'open' | 'waiting' (to reconnect) | 'suspended' (page hidden) | 'closed' */
    this.state = "connecting";
    /** The URL of the current (or last) connection attempt. */
    this.url = null;
    this._attempt = 0;
    this._ws = null;
    this._timer = null;
    this._openTimer = null;
    this._onPageHide = () => this._suspend();
    this._onPageShow = (e) => {
      if (this.state === "suspended" || (e && e.persisted && this.state !== "closed")) this._resume();
    };
    this._onOnline = () => {
      if (this.state === "waiting") this._open();
    };
    if (o.closeOnPageHide && typeof addEventListener === "function") {
      addEventListener("pagehide", this._onPageHide);
      addEventListener("pageshow", this._onPageShow);
    }
    if (typeof addEventListener === "function") addEventListener("online", this._onOnline);
    this._open();
  }

  // ---- listeners -------------------------------------------------------

  /**
   * Call `listener(event)` for each event of `type`: scan, scanner_state, button_pressed,
   * errors, gateway_state, command_ack, 'event' (every Streams event), 'open' ({url}),
   * 'close' ({code, reason, delay}).
   * @param {string} type
   * @param {(event: any) => void} listener
   * @returns {() => void} a function that removes the listener
   */
  on(type, listener) {
    if (!EVENT_TYPES.includes(type)) throw new TypeError(`unknown event type ${JSON.stringify(type)}`);
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  /**
   * Remove a listener added with {@link ScanbridgeClient#on}.
   * @param {string} type
   * @param {(event: any) => void} listener
   */
  off(type, listener) {
    this._listeners.get(type)?.delete(listener);
  }

  _emit(type, event) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(event);
      } catch (err) {
        console.error(`scanbridge: a ${type} listener failed`, err);
      }
    }
  }

  // ---- connection ------------------------------------------------------

  _load() {
    if (!this.storageKey) return null;
    try {
      return sessionStorage.getItem(this.storageKey);
    } catch {
      return null; // no storage (sandboxed frame, privacy settings): memory only
    }
  }

  _store(id) {
    this.lastEventId = id;
    if (!this.storageKey || !this.options.resume) return;
    try {
      sessionStorage.setItem(this.storageKey, id);
    } catch {
      /* memory only */
    }
  }

  _open() {
    clearTimeout(this._timer);
    this._timer = null;
    const u = new URL(this.baseUrl);
    if (this.options.resume && this.lastEventId) u.searchParams.set("after", this.lastEventId);
    this.url = u.href;
    this.state = "connecting";
    let ws;
    try {
      ws = new WebSocket(u.href);
    } catch (err) {
      // A malformed URL or a blocked port: a programming error, not worth retrying.
      this.state = "closed";
      throw err;
    }
    this._ws = ws;
    this._openTimer = setTimeout(() => ws.close(), this.options.openTimeout);
    ws.onopen = () => {
      if (ws !== this._ws) return;
      clearTimeout(this._openTimer);
      this.state = "open";
      this.opens += 1;
      for (const p of this._pending.values()) {
        if (!p.sent) this._transmit(p);
      }
      this._emit("open", { url: this.url, opens: this.opens });
    };
    ws.onmessage = (m) => {
      if (ws === this._ws) this._message(m.data);
    };
    ws.onclose = (e) => this._closed(ws, e);
    ws.onerror = () => {}; // onclose follows, with what there is to know
  }

  _closed(ws, e) {
    if (ws !== this._ws) return; // an earlier socket, already replaced
    clearTimeout(this._openTimer);
    this._ws = null;
    // Sent, unanswered commands: whether they were carried out is unknown.
    for (const [id, p] of this._pending) {
      if (p.sent) this._settle(id, null, new CommandError(
        "the connection closed before the command was answered", "CLIENT_CLOSED", null, p.command));
    }
    let delay = null;
    if (this.state !== "closed" && this.state !== "suspended") {
      const o = this.options;
      const full = Math.min(o.maxDelay, o.minDelay * 2 ** Math.min(this._attempt, 30));
      delay = Math.round(full / 2 + (Math.random() * full) / 2);
      this._attempt += 1;
      this.state = "waiting";
      this._timer = setTimeout(() => this._open(), delay);
    }
    this._emit("close", { code: e.code, reason: e.reason, delay });
  }

  _message(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      console.error("scanbridge: a message that is not JSON", data);
      return;
    }
    if (!event || typeof event.event_type !== "string") return;
    this._attempt = 0; // a working session: the next reconnect starts quick again
    const type = event.event_type;
    if (JOURNALED.has(type) && typeof event.event_id === "string") {
      if (this._seen.has(event.event_id)) return; // already delivered
      this._seen.add(event.event_id);
      this._seenOrder.push(event.event_id);
      if (this._seenOrder.length > 1000) this._seen.delete(this._seenOrder.shift());
      this._store(event.event_id);
    }
    const ref = event.event_reference_id;
    if (ref && this._pending.has(ref)) {
      if (type === "errors") {
        const p = this._pending.get(ref);
        this._settle(ref, null, new CommandError(
          event.error_message || event.error_code, event.error_code, event, p.command));
      } else if (type === "command_ack" || type === "gateway_state") {
        this._settle(ref, event, null);
      }
    }
    this._emit(type, event);
    this._emit("event", event);
  }

  _suspend() {
    if (this.state === "closed") return;
    clearTimeout(this._timer);
    this.state = "suspended";
    const ws = this._ws;
    if (ws && ws.readyState <= WebSocket.OPEN) {
      ws.close(1000, "page hidden");
      // Told now, not when the close handshake ends: a page going into the
      // back/forward cache is frozen before that, and would come back still
      // showing "open" until its new connection opened.
      this._closed(ws, { code: 1000, reason: "page hidden" });
    }
  }

  _resume() {
    if (this.state === "closed") return;
    if (this._ws && this._ws.readyState <= WebSocket.OPEN) return;
    this._attempt = 0;
    this._open();
  }

  /**
   * A Promise resolved when the client is connected (at once if it is).
   * @param {number} [timeout]  reject after this many ms (default: never)
   * @returns {Promise<void>}
   */
  opened(timeout) {
    if (this.state === "open") return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timer = null;
      const off = this.on("open", () => {
        clearTimeout(timer);
        off();
        resolve();
      });
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          off();
          reject(new Error(`not connected within ${timeout} ms`));
        }, timeout);
      }
    });
  }

  /** Close for good: no reconnect; commands not answered yet are rejected. */
  close() {
    this.state = "closed";
    clearTimeout(this._timer);
    for (const [id, p] of this._pending) {
      this._settle(id, null, new CommandError("the client was closed", "CLIENT_CLOSED", null, p.command));
    }
    if (typeof removeEventListener === "function") {
      removeEventListener("pagehide", this._onPageHide);
      removeEventListener("pageshow", this._onPageShow);
      removeEventListener("online", this._onOnline);
    }
    const ws = this._ws;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "closed by the app");
  }

  /** Forget the resume point (the next connection gets only undelivered and live events). */
  forgetPosition() {
    this.lastEventId = null;
    if (!this.storageKey) return;
    try {
      sessionStorage.removeItem(this.storageKey);
    } catch {
      /* memory only */
    }
  }

  // ---- commands --------------------------------------------------------

  /**
   * Send a command (api_version, event_id and time_created are filled in).
   * Resolved with the `command_ack` (or the `gateway_state` answering `gateway_state!`),
   * rejected with a {@link CommandError}. Commands sent while disconnected wait for the
   * connection (within the timeout).
   * @param {object} command  at least `event_type`
   * @param {CommandOptions} [opts]
   * @returns {Promise<StreamsEvent|undefined>}
   */
  send(command, opts = {}) {
    if (this.state === "closed") {
      return Promise.reject(new CommandError("the client is closed", "CLIENT_CLOSED", null, command));
    }
    const full = {
      api_version: "1.0",
      event_id: uuid(),
      time_created: now(),
      ...command,
    };
    const text = JSON.stringify(full);
    const timeout = opts.timeout ?? this.options.commandTimeout;
    return new Promise((resolve, reject) => {
      const p = { resolve, reject, command: full, sent: false, text, timer: null };
      p.timer = setTimeout(() => {
        this._settle(full.event_id, null, new CommandError(
          `${full.event_type} not answered within ${timeout} ms`, "CLIENT_TIMEOUT", null, full));
      }, timeout);
      this._pending.set(full.event_id, p);
      if (this.state === "open") this._transmit(p);
    });
  }

  _transmit(p) {
    try {
      this._ws.send(p.text);
    } catch (err) {
      this._settle(p.command.event_id, null, new CommandError(String(err), "CLIENT_CLOSED", null, p.command));
      return;
    }
    p.sent = true;
    // Without acks only errors and gateway_state answer: done once sent.
    if (!this.options.acks && p.command.event_type !== "gateway_state!") {
      this._settle(p.command.event_id, undefined, null);
    }
  }

  _settle(id, value, error) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(value);
  }

  _wrap(build, opts) {
    try {
      return this.send(build(), opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `feedback!`: the scanner beeps / flashes.
   * @param {string} serial  device_serial
   * @param {string} action  positive, negative, yellow, purple, cyan or a FEEDBACK_* id
   * @param {CommandOptions} [opts]
   * @returns {Promise<StreamsEvent|undefined>}
   */
  feedback(serial, action, opts = {}) {
    return this._wrap(() => {
      checkSerial(serial);
      const id = FEEDBACK[action] ?? action;
      if (!Object.values(FEEDBACK).includes(id)) {
        throw invalid(`feedback action must be one of ${Object.keys(FEEDBACK).join(", ")} or a FEEDBACK_* id`);
      }
      const cmd = { event_type: "feedback!", device_serial: serial, feedback_action_id: id };
      const ttl = checkMillis(opts.ttl, "ttl");
      if (ttl) cmd.event_time_to_live_duration = ttl;
      return cmd;
    }, opts);
  }

  /**
   * `display!`: show fields on the scanner's display (a MARK Display template).
   * @param {string} serial  device_serial
   * @param {string} templateId  e.g. "PG1", "PG2", "PG3" (1-15 characters)
   * @param {Array<DisplayField|string>} fields  up to 12; a string is a field's text;
   *   `id` defaults to the position (1, 2, ...); header up to 40, text up to 80 characters
   * @param {CommandOptions & {refresh?: string, validity?: number}} [opts]  refresh:
   *   DEFAULT, FULL_REFRESH, PARTIAL_REFRESH; validity: ms until the screen is cleared
   *   (0: until replaced)
   * @returns {Promise<StreamsEvent|undefined>}
   */
  display(serial, templateId, fields = [], opts = {}) {
    return this._wrap(() => {
      checkSerial(serial);
      if (typeof templateId !== "string" || templateId.length < 1 || templateId.length > 15) {
        throw invalid("display template id must be a string of 1-15 characters");
      }
      if (!Array.isArray(fields) || fields.length > 12) throw invalid("display fields: at most 12");
      const list = fields.map((f, i) => {
        const field = typeof f === "string" ? { text: f } : f;
        const out = {
          display_field_id: field.id ?? i + 1,
          display_field_header: field.header ?? "",
          display_field_text: field.text ?? "",
        };
        if (!Number.isInteger(out.display_field_id) || out.display_field_id < 1) {
          throw invalid(`display field ${i}: id must be an integer >= 1`);
        }
        if (String(out.display_field_header).length > 40) {
          throw invalid(`display field ${i}: header is longer than 40 characters`);
        }
        if (String(out.display_field_text).length > 80) {
          throw invalid(`display field ${i}: text is longer than 80 characters`);
        }
        return out;
      });
      const cmd = {
        event_type: "display!",
        device_serial: serial,
        display_template_id: templateId,
        display_refresh_type: opts.refresh ?? "DEFAULT",
        display_fields: list,
      };
      if (!REFRESH_TYPES.includes(cmd.display_refresh_type)) {
        throw invalid(`refresh must be one of ${REFRESH_TYPES.join(", ")}`);
      }
      const validity = checkMillis(opts.validity, "validity");
      if (validity) cmd.time_validity_duration = validity;
      const ttl = checkMillis(opts.ttl, "ttl");
      if (ttl) cmd.event_time_to_live_duration = ttl;
      return cmd;
    }, opts);
  }

  /**
   * `trigger_block!`: block (or unblock) a scanner's trigger; while blocked its scans
   * are not published.
   * @param {string} serial  device_serial
   * @param {boolean} blocked
   * @param {CommandOptions & {gestures?: string[], unblockGestures?: string[],
   *   validity?: number}} [opts]  gestures: which gestures to block (default all);
   *   unblockGestures: gestures that unblock; validity: ms until unblocked (0: until told)
   * @returns {Promise<StreamsEvent|undefined>}
   */
  triggerBlock(serial, blocked, opts = {}) {
    return this._wrap(() => {
      checkSerial(serial);
      if (typeof blocked !== "boolean") throw invalid("blocked must be true or false");
      const cmd = { event_type: "trigger_block!", device_serial: serial, trigger_block_state: blocked };
      const g = checkGestures(opts.gestures, "gestures");
      if (g) cmd.trigger_block_gesture_list = g;
      const u = checkGestures(opts.unblockGestures, "unblockGestures");
      if (u) cmd.trigger_unblock_gesture_list = u;
      const validity = checkMillis(opts.validity, "validity");
      if (validity) cmd.time_validity_duration = validity;
      const ttl = checkMillis(opts.ttl, "ttl");
      if (ttl) cmd.event_time_to_live_duration = ttl;
      return cmd;
    }, opts);
  }

  /**
   * `gateway_state!`: resolved with the `gateway_state` event that answers it.
   * @param {CommandOptions} [opts]
   * @returns {Promise<StreamsEvent>}
   */
  gatewayState(opts = {}) {
    return /** @type {Promise<StreamsEvent>} */ (this.send({ event_type: "gateway_state!" }, opts));
  }

  /**
   * `scanner_connectivity!`: `disconnect` ("all" or serials) first, then `connect`
   * (true, "all" or serials).
   * @param {{connect?: boolean|"all"|string[], disconnect?: "all"|string[]}} what
   * @param {CommandOptions} [opts]
   * @returns {Promise<StreamsEvent|undefined>}
   */
  scannerConnectivity(what, opts = {}) {
    return this._wrap(() => {
      const cmd = { event_type: "scanner_connectivity!" };
      if (what && what.disconnect !== undefined) cmd.disconnect = what.disconnect;
      if (what && what.connect !== undefined) cmd.connect = what.connect;
      if (cmd.connect === undefined && cmd.disconnect === undefined) {
        throw invalid("scanner_connectivity needs connect or disconnect");
      }
      return cmd;
    }, opts);
  }
}

/**
 * Connect to a scanbridge Streams socket.
 * @param {string|URL|ConnectOptions} [url]  default: the server that served this module;
 *   relative URLs resolve against that server
 * @param {ConnectOptions} [options]
 * @returns {ScanbridgeClient}
 */
export function connect(url, options) {
  if (url && typeof url === "object" && !(url instanceof URL)) return new ScanbridgeClient(undefined, url);
  return new ScanbridgeClient(url, options);
}
