/*
 * pushcast-core.js: the pure functions of the pushcast service worker.
 *
 * No browser APIs, no I/O: the service worker loads this file with importScripts() and
 * finds it on self.PushcastCore; a page can load it with a <script> tag (window.PushcastCore)
 * and Node with require(), so tests call exactly the code the service worker runs.
 *
 * The push payload (JSON) is
 *   {title, body, url, icon, image, badge, tag, require_interaction,
 *    actions: [{action, title, url}], message, campaign, sig, user?, variant?, server?}
 */
(function (root, factory) {
  'use strict';
  var core = factory();
  if (typeof module === 'object' && module && module.exports) {
    module.exports = core;
  }
  root.PushcastCore = core;
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

  var DEFAULT_TITLE = 'New notification';

  function isObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  function present(value) {
    return value !== undefined && value !== null && value !== '';
  }

  // A Declarative Web Push message's notification members, by the classic payload's keys.
  var DECLARATIVE_MEMBERS = {
    title: 'title', url: 'navigate', body: 'body', tag: 'tag', icon: 'icon', image: 'image',
    badge: 'badge', require_interaction: 'requireInteraction',
  };

  /**
   * The classic payload a Declarative Web Push message (Safari 18.4+: `web_push: 8030`)
   * stands for: its `data` plus the notification's fields, so a mutable message is shown,
   * clicked and reported like any other.
   */
  function fromDeclarative(message) {
    var notification = message.notification;
    var payload = isObject(notification.data) ? Object.assign({}, notification.data) : {};
    Object.keys(DECLARATIVE_MEMBERS).forEach(function (key) {
      var member = DECLARATIVE_MEMBERS[key];
      if (notification[member] !== undefined) payload[key] = notification[member];
    });
    if (Array.isArray(notification.actions)) {
      payload.actions = notification.actions.filter(isObject).map(function (action) {
        return { action: action.action, title: action.title, url: action.navigate };
      });
    }
    return payload;
  }

  /**
   * The payload object from a push message's text. A payload that is not a JSON object is
   * shown as the body of a plain notification: with userVisibleOnly every push must show one.
   */
  function parsePayload(text) {
    if (!present(text)) return { title: DEFAULT_TITLE };
    try {
      var value = JSON.parse(text);
      if (isObject(value) && value.web_push === 8030 && isObject(value.notification)) return fromDeclarative(value);
      if (isObject(value)) return value;
    } catch (e) {
      // not JSON: fall through
    }
    return { title: DEFAULT_TITLE, body: String(text) };
  }

  /** The notification's title: the payload's, or a neutral one when it has none. */
  function notificationTitle(payload) {
    return present(payload && payload.title) ? String(payload.title) : DEFAULT_TITLE;
  }

  /**
   * The options for registration.showNotification(): every display field the payload
   * carries, with the payload itself as data. Fields that are absent are left out, since
   * showNotification() would turn a null icon into the URL "null".
   */
  function notificationOptions(payload) {
    payload = isObject(payload) ? payload : {};
    var options = { data: payload };
    ['body', 'icon', 'image', 'badge', 'tag'].forEach(function (key) {
      if (present(payload[key])) options[key] = String(payload[key]);
    });
    if (payload.require_interaction !== undefined) {
      options.requireInteraction = payload.require_interaction === true;
    }
    var actions = Array.isArray(payload.actions) ? payload.actions : [];
    options.actions = actions.filter(isObject).map(function (action, index) {
      var shown = {
        action: present(action.action) ? String(action.action) : 'action-' + index,
        title: present(action.title) ? String(action.title) : '',
      };
      if (present(action.icon)) shown.icon = String(action.icon);
      return shown;
    });
    return options;
  }

  // An absolute URL whose scheme is not http(s) (javascript:, data:, ...) is never opened.
  var SCHEME = /^([a-z][a-z0-9+.-]*):/i;

  function openable(url) {
    if (!present(url) || typeof url !== 'string') return false;
    var scheme = SCHEME.exec(url);
    return !scheme || /^https?$/i.test(scheme[1]);
  }

  /**
   * The URL a click opens: the clicked action button's url, else the payload's url, else
   * '/'. `action` is the NotificationEvent's action: '' when the body was clicked.
   */
  function clickTarget(payload, action) {
    payload = isObject(payload) ? payload : {};
    if (present(action) && Array.isArray(payload.actions)) {
      for (var i = 0; i < payload.actions.length; i++) {
        var button = payload.actions[i];
        if (!isObject(button)) continue;
        var id = present(button.action) ? String(button.action) : 'action-' + i;
        if (id === action && openable(button.url)) return button.url;
      }
    }
    return openable(payload.url) ? payload.url : '/';
  }

  /**
   * The body of a POST /v1/track report, or null when the payload is not a pushcast
   * message (it has no message id, so there is nothing to count).
   */
  function trackBody(payload, type, action) {
    if (type !== 'shown' && type !== 'clicked') {
      throw new TypeError('trackBody: type must be "shown" or "clicked", got ' + JSON.stringify(type));
    }
    if (!isObject(payload) || !present(payload.message)) return null;
    var body = {
      type: type,
      message: String(payload.message),
      campaign: present(payload.campaign) ? String(payload.campaign) : '',
      action: type === 'clicked' && present(action) ? String(action) : '',
      sig: present(payload.sig) ? String(payload.sig) : '',
    };
    if (present(payload.user)) body.user = String(payload.user);
    // An A/B variant is signed with the message: report it back as it came.
    if (present(payload.variant)) body.variant = String(payload.variant);
    return body;
  }

  /**
   * The pushcast server's origin for a service worker at `workerUrl`: the payload's
   * `server`, else the worker URL's `server` query parameter, else the worker's origin.
   */
  function serverOrigin(payload, workerUrl) {
    if (isObject(payload) && present(payload.server)) return String(payload.server).replace(/\/+$/, '');
    var url = new URL(workerUrl);
    var server = url.searchParams.get('server');
    return present(server) ? server.replace(/\/+$/, '') : url.origin;
  }

  /** The bytes of a base64url string (a VAPID applicationServerKey). */
  function base64UrlToBytes(text) {
    var base64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
    base64 += '===='.slice((base64.length % 4) || 4);
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  return {
    parsePayload: parsePayload,
    notificationTitle: notificationTitle,
    notificationOptions: notificationOptions,
    clickTarget: clickTarget,
    trackBody: trackBody,
    serverOrigin: serverOrigin,
    base64UrlToBytes: base64UrlToBytes,
  };
});
