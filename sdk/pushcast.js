/*
 * pushcast.js: the pushcast browser SDK. No dependencies.
 *
 *   <script src="/sdk/pushcast.js"></script>            (global Pushcast)
 *   import Pushcast from '/sdk/pushcast.mjs';            (ES module; same object)
 *
 *   Pushcast.init({server: 'https://push.shop.example', user: 'u-42', userHash: '<from your backend>'});
 *   button.onclick = () => Pushcast.subscribe();          // from a user gesture
 *   Pushcast.track('Added To Cart', {cart_id: 'c-9', price: 89.5});
 *
 * init() also re-posts the subscription when it changed since the last post (another
 * endpoint or another user; kept in localStorage), and re-subscribes when the browser
 * dropped it while permission stays granted. The service worker re-posts it itself on
 * `pushsubscriptionchange`, from the {server, user, vapidPublicKey} this file stores in
 * Cache Storage.
 *
 * userHash: with identity verification on (identity_secret in pushcast.yaml), every
 * request that names the user carries `user_hash`, the hex HMAC-SHA256 of the user id
 * with that secret. Compute it on your server for the logged-in user and print it into
 * the page; never ship the secret to the browser.
 */
(function (root) {
  'use strict';

  var STORAGE_KEY = 'pushcast:subscription';
  var CONFIG_CACHE = 'pushcast';
  var CONFIG_PATH = '/__pushcast__/config';
  var ACTIVATE_TIMEOUT_MS = 10000;

  var config = null;
  var vapidKeyPromise = null;

  /** Every failure carries a code: unsupported, not-initialized, permission, server,
   * service-worker, push-service. */
  function PushcastError(code, message, cause) {
    var error = new Error(message);
    error.name = 'PushcastError';
    error.code = code;
    if (cause !== undefined) error.cause = cause;
    return error;
  }

  function supported() {
    return typeof window !== 'undefined' && window.isSecureContext !== false &&
      'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  function requireConfig() {
    if (!config) throw PushcastError('not-initialized', 'Pushcast.init({server, user}) must be called first');
    return config;
  }

  function requireSupport() {
    if (!supported()) {
      throw PushcastError('unsupported', 'This browser cannot receive web push here: it needs service ' +
        'workers, the Push API and notifications, on https:// or http://localhost');
    }
  }

  function base64UrlToBytes(text) {
    var base64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
    base64 += '===='.slice((base64.length % 4) || 4);
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameBytes(buffer, bytes) {
    if (!buffer) return false;
    var view = new Uint8Array(buffer);
    if (view.length !== bytes.length) return false;
    for (var i = 0; i < view.length; i++) if (view[i] !== bytes[i]) return false;
    return true;
  }

  function request(method, path, body, keepalive) {
    var cfg = requireConfig();
    var url = cfg.server + path;
    var init = { method: method, headers: {}, credentials: 'omit', keepalive: !!keepalive };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(
      function (response) {
        if (response.ok) return response;
        return response.text().then(function (text) {
          throw PushcastError('server', method + ' ' + url + ' answered HTTP ' + response.status +
            (text ? ': ' + text.slice(0, 300) : ''));
        });
      },
      function (error) {
        throw PushcastError('server', method + ' ' + url + ' failed: ' + error.message, error);
      }
    );
  }

  function remembered() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
    } catch (e) {
      return null;
    }
  }

  function remember(value) {
    try {
      if (value) localStorage.setItem(STORAGE_KEY, JSON.stringify(value));
      else localStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      // storage disabled: the subscription is then re-posted on every visit, which is harmless
    }
  }

  // What the service worker needs to re-post a replaced subscription on its own.
  function storeWorkerConfig(vapidPublicKey) {
    if (typeof caches === 'undefined') return Promise.resolve();
    var cfg = requireConfig();
    var body = JSON.stringify({ server: cfg.server, user: cfg.user, userHash: cfg.userHash,
      vapidPublicKey: vapidPublicKey || null });
    return caches.open(CONFIG_CACHE).then(function (cache) {
      return cache.put(new URL(CONFIG_PATH, location.origin).href,
        new Response(body, { headers: { 'Content-Type': 'application/json' } }));
    }).catch(function (error) {
      console.warn('pushcast: could not store the service worker settings:', error);
    });
  }

  function workerUrl() {
    var cfg = requireConfig();
    var url = new URL(cfg.serviceWorker, location.href);
    if (new URL(cfg.server).origin !== location.origin) url.searchParams.set('server', cfg.server);
    return url.href;
  }

  function scopeUrl() {
    var cfg = requireConfig();
    return new URL(cfg.scope || './', new URL(cfg.serviceWorker, location.href)).href;
  }

  function vapidPublicKey() {
    var cfg = requireConfig();
    if (cfg.vapidPublicKey) return Promise.resolve(cfg.vapidPublicKey);
    if (!vapidKeyPromise) {
      vapidKeyPromise = request('GET', '/v1/vapid-public-key')
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (!answer || typeof answer.publicKey !== 'string' || !answer.publicKey) {
            throw PushcastError('server', 'GET /v1/vapid-public-key gave no publicKey');
          }
          return answer.publicKey;
        });
      vapidKeyPromise.catch(function () { vapidKeyPromise = null; });
    }
    return vapidKeyPromise;
  }

  function requestPermission() {
    if (Notification.permission === 'granted') return Promise.resolve('granted');
    return new Promise(function (resolve) {
      // Older Safari takes a callback and returns nothing.
      var answer = Notification.requestPermission(resolve);
      if (answer && typeof answer.then === 'function') answer.then(resolve);
    });
  }

  function whenActive(registration) {
    if (registration.active) return Promise.resolve(registration);
    var worker = registration.installing || registration.waiting;
    if (!worker) return Promise.reject(PushcastError('service-worker', 'the service worker registration has no worker'));
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(PushcastError('service-worker', 'the service worker ' + worker.scriptURL + ' did not activate within ' +
          ACTIVATE_TIMEOUT_MS / 1000 + ' s (state: ' + worker.state + ')'));
      }, ACTIVATE_TIMEOUT_MS);
      worker.addEventListener('statechange', function () {
        if (worker.state === 'activated') {
          clearTimeout(timer);
          resolve(registration);
        } else if (worker.state === 'redundant') {
          clearTimeout(timer);
          reject(PushcastError('service-worker', 'the service worker ' + worker.scriptURL + ' failed to install'));
        }
      });
    });
  }

  function register() {
    var options = requireConfig().scope ? { scope: requireConfig().scope } : undefined;
    return navigator.serviceWorker.register(workerUrl(), options).then(whenActive, function (error) {
      throw PushcastError('service-worker', 'could not register the service worker ' + workerUrl() + ': ' + error.message, error);
    });
  }

  function existingRegistration() {
    return navigator.serviceWorker.getRegistration(scopeUrl()).then(function (registration) {
      // getRegistration() matches by scope; only ours counts.
      if (!registration) return null;
      var worker = registration.active || registration.waiting || registration.installing;
      return worker && new URL(worker.scriptURL).pathname === new URL(workerUrl()).pathname ? registration : null;
    });
  }

  // The registration's subscription for this VAPID key; a subscription made with another key
  // (the server's key was rotated) is replaced.
  function pushSubscription(registration, key) {
    var bytes = base64UrlToBytes(key);
    return registration.pushManager.getSubscription().then(function (existing) {
      if (existing && sameBytes(existing.options && existing.options.applicationServerKey, bytes)) return existing;
      var dropped = existing ? existing.unsubscribe() : Promise.resolve();
      return dropped.then(function () {
        return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes });
      }).catch(function (error) {
        throw PushcastError('push-service', "the browser's push service refused the subscription: " +
          (error && error.message), error);
      });
    });
  }

  // The visitor's IANA zone: quiet hours and local-time delivery follow their clock.
  function timeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
    } catch (error) {
      return undefined;
    }
  }

  function post(subscription, vapidKey) {
    var cfg = requireConfig();
    var last = remembered();
    var moved = last && last.user !== cfg.user && last.endpoint === subscription.endpoint
      ? request('DELETE', '/v1/subscriptions', { user: last.user, user_hash: last.userHash, endpoint: last.endpoint }).catch(function (error) {
          console.warn('pushcast: could not detach the subscription from user ' + last.user + ':', error);
        })
      : Promise.resolve();
    return moved
      .then(function () {
        return request('POST', '/v1/subscriptions', {
          user: cfg.user, user_hash: cfg.userHash, subscription: subscription.toJSON(), tz: timeZone(),
        });
      })
      .then(function () {
        remember({ user: cfg.user, userHash: cfg.userHash, endpoint: subscription.endpoint });
        return storeWorkerConfig(vapidKey);
      })
      .then(function () { return subscription; });
  }

  /**
   * Asks for permission, registers the service worker, subscribes and posts the
   * subscription with the user id. Call it from a user gesture (a click). Resolves to the
   * PushSubscription; rejects with a PushcastError.
   */
  function subscribe() {
    try {
      requireConfig();
      requireSupport();
    } catch (error) {
      return Promise.reject(error);
    }
    // First, before anything asynchronous: some browsers only prompt inside the gesture.
    return requestPermission()
      .then(function (permission) {
        if (permission !== 'granted') {
          throw PushcastError('permission', permission === 'denied'
            ? 'Notifications are blocked for this site: allow them in the browser\'s site settings'
            : 'Notifications were not allowed (the prompt was dismissed)');
        }
        return Promise.all([register(), vapidPublicKey()]);
      })
      .then(function (both) {
        return pushSubscription(both[0], both[1]).then(function (subscription) {
          return post(subscription, both[1]);
        });
      });
  }

  /**
   * Re-posts the subscription when it differs from the last one posted (endpoint or user),
   * and re-subscribes when the browser dropped it while permission is still granted.
   * Resolves to the PushSubscription, or null when there is none to keep.
   */
  function sync() {
    var cfg;
    try {
      cfg = requireConfig();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!supported() || Notification.permission !== 'granted') return Promise.resolve(null);
    return existingRegistration().then(function (registration) {
      var last = remembered();
      if (!registration) return last ? subscribe() : null;
      return registration.pushManager.getSubscription().then(function (subscription) {
        if (!subscription) return last ? subscribe() : null;
        if (last && last.endpoint === subscription.endpoint && last.user === cfg.user &&
            last.userHash === cfg.userHash) return subscription;
        return vapidPublicKey().then(function (key) { return post(subscription, key); });
      });
    });
  }

  /**
   * Registers the service worker and resolves to its registration once it is active,
   * without asking for anything; subscribe() does this itself.
   */
  function registerWorker() {
    try {
      requireConfig();
      requireSupport();
    } catch (error) {
      return Promise.reject(error);
    }
    return register();
  }

  /** Unsubscribes this browser and tells the server. Resolves to true if there was a subscription. */
  function unsubscribe() {
    var cfg;
    try {
      cfg = requireConfig();
      requireSupport();
    } catch (error) {
      return Promise.reject(error);
    }
    return existingRegistration()
      .then(function (registration) { return registration ? registration.pushManager.getSubscription() : null; })
      .then(function (subscription) {
        remember(null);
        if (!subscription) return false;
        var endpoint = subscription.endpoint;
        return subscription.unsubscribe().then(function () {
          return request('DELETE', '/v1/subscriptions', { user: cfg.user, user_hash: cfg.userHash, endpoint: endpoint });
        }).then(function () { return true; });
      });
  }

  /** Posts one event for the current user: track('Added To Cart', {cart_id: 'c-9', price: 89.5}). */
  function track(event, props) {
    var cfg;
    try {
      cfg = requireConfig();
      if (typeof event !== 'string' || !event) throw new TypeError('Pushcast.track: the event name must be a non-empty string');
      if (props !== undefined && (props === null || typeof props !== 'object' || Array.isArray(props))) {
        throw new TypeError('Pushcast.track: props must be an object');
      }
    } catch (error) {
      return Promise.reject(error);
    }
    var body = { user: cfg.user, user_hash: cfg.userHash, event: event, ts: new Date().toISOString(), props: props || {} };
    return request('POST', '/v1/events', body, true).then(function () { return body; });
  }

  /**
   * Changes the user (log-in, log-out); a subscription is re-posted for the new user.
   * userHash: the new user's hash, when identity verification is on.
   */
  function identify(user, userHash) {
    if (typeof user !== 'string' || !user) return Promise.reject(new TypeError('Pushcast.identify: user must be a non-empty string'));
    if (userHash !== undefined && (typeof userHash !== 'string' || !userHash)) {
      return Promise.reject(new TypeError('Pushcast.identify: userHash must be a non-empty string when given'));
    }
    var cfg = requireConfig();
    cfg.user = user;
    cfg.userHash = userHash;
    return sync();
  }

  /** {supported, permission, endpoint}: what the page can show about this browser. */
  function state() {
    if (!supported()) return Promise.resolve({ supported: false, permission: 'unsupported', endpoint: null });
    var permission = Notification.permission;
    return existingRegistration()
      .then(function (registration) { return registration ? registration.pushManager.getSubscription() : null; })
      .then(function (subscription) {
        return { supported: true, permission: permission, endpoint: subscription ? subscription.endpoint : null };
      });
  }

  /**
   * Sets up the SDK: {server (default: this page's origin), user (required), userHash (the
   * user's hash from your backend, required when the server verifies identities),
   * vapidPublicKey (default: asked from the server), serviceWorker (default
   * '/sdk/pushcast-sw.js'), scope}.
   * Starts a background sync(); returns the Pushcast object.
   */
  function init(options) {
    options = options || {};
    if (typeof options.user !== 'string' || !options.user) {
      throw new TypeError('Pushcast.init: user must be a non-empty string (your id for this visitor)');
    }
    if (options.userHash !== undefined && (typeof options.userHash !== 'string' || !options.userHash)) {
      throw new TypeError('Pushcast.init: userHash must be the hex string your backend computed for this user');
    }
    var server = options.server || location.origin;
    try {
      server = new URL(server, location.href).href.replace(/\/+$/, '');
    } catch (e) {
      throw new TypeError('Pushcast.init: server must be a URL, got ' + JSON.stringify(options.server));
    }
    config = {
      server: server,
      user: options.user,
      userHash: options.userHash,
      vapidPublicKey: options.vapidPublicKey || null,
      serviceWorker: options.serviceWorker || '/sdk/pushcast-sw.js',
      scope: options.scope || null,
    };
    vapidKeyPromise = null;
    Pushcast.ready = sync().catch(function (error) {
      console.warn('pushcast: could not check the subscription:', error);
      return null;
    });
    return Pushcast;
  }

  var Pushcast = {
    init: init,
    identify: identify,
    subscribe: subscribe,
    register: registerWorker,
    unsubscribe: unsubscribe,
    sync: sync,
    track: track,
    state: state,
    supported: supported,
    ready: Promise.resolve(null),
  };

  root.Pushcast = Pushcast;
})(globalThis);
