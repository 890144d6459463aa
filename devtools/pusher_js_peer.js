#!/usr/bin/env node
// A pusher-js peer for interop tests: joins one presence channel and speaks line-based JSON.
//
// Usage:
//   node devtools/pusher_js_peer.js --key KEY --host 127.0.0.1 --port 6001 \
//     --auth-endpoint http://127.0.0.1:PORT/pusher/auth --user js-1 --channel presence-x \
//     [--events client-a,client-b] [--max-seconds 60]
// Every option can also come from the environment: PEER_KEY, PEER_HOST, PEER_PORT,
// PEER_AUTH_ENDPOINT, PEER_USER, PEER_CHANNEL, PEER_EVENTS, PEER_MAX_SECONDS.
//
// stdout, one JSON object a line:
//   {"type":"connection","current":"connected","previous":"connecting","socket_id":"..."}
//   {"type":"subscribed","members":[ids...],"me":id,"info":{id: user_info}}
//   {"type":"member_added","user_id":id,"user_info":...}
//   {"type":"member_removed","user_id":id,"user_info":...}
//   {"type":"event","event":name,"data":...,"user_id":metadata.user_id}   (client events)
//   {"type":"triggered","event":name,"ok":true}                           (after a trigger)
//   {"type":"error",...}
//   {"type":"bye","reason":"quit"|"stdin closed"|"time limit"}
// stdin, one JSON command a line:
//   {"cmd":"trigger","event":"client-x","data":{...}}  -> channel.trigger(event, data)
//   {"cmd":"bind","event":"client-y"}                  -> report that client event too
//   {"cmd":"quit"}                                     -> disconnect, exit 0
// It exits by itself when stdin closes, and after --max-seconds (default 60) no matter what.
//
// Client events are reported through channel.bind(name, (data, metadata) => ...) so that
// the sender's user id comes from pusher-js's own metadata. The names to bind are given by
// --events or the "bind" command; any other client-* event is still reported (through
// bind_global, which gets no metadata) with "bound": false and no user_id.

'use strict';

const {
  emit,
  Lifetime,
  list,
  readConfig,
  reportConnection,
  requirePusher,
  safe,
  serveCommands,
} = require('./peer_common');

function main() {
  const env = process.env;
  const config = readConfig(
    (args) => ({
      key: args.key || env.PEER_KEY,
      host: args.host || env.PEER_HOST || '127.0.0.1',
      port: Number(args.port || env.PEER_PORT),
      authEndpoint: args['auth-endpoint'] || env.PEER_AUTH_ENDPOINT,
      user: args.user || env.PEER_USER,
      channel: args.channel || env.PEER_CHANNEL,
      events: list(args.events || env.PEER_EVENTS),
      maxSeconds: Number(args['max-seconds'] || env.PEER_MAX_SECONDS || 60),
    }),
    ['key', 'port', 'authEndpoint', 'user', 'channel'],
  );
  const lifetime = new Lifetime(config.maxSeconds);
  const Pusher = requirePusher();

  const pusher = new Pusher(config.key, {
    cluster: 'mt1',
    forceTLS: false,
    wsHost: config.host,
    wsPort: config.port,
    enabledTransports: ['ws'],
    enableStats: false,
    channelAuthorization: {
      endpoint: config.authEndpoint,
      transport: 'ajax',
      params: { user: config.user },
    },
  });
  lifetime.client = pusher;
  reportConnection(pusher);

  const channel = pusher.subscribe(config.channel);
  const bound = new Set();

  function bindClientEvent(name) {
    if (bound.has(name)) {
      return;
    }
    bound.add(name);
    channel.bind(name, (data, metadata) => {
      emit({
        type: 'event',
        event: name,
        data: data === undefined ? null : data,
        user_id: metadata && metadata.user_id !== undefined ? metadata.user_id : null,
        bound: true,
      });
    });
  }
  config.events.forEach(bindClientEvent);

  channel.bind_global((name, data) => {
    if (name.startsWith('client-') && !bound.has(name)) {
      emit({ type: 'event', event: name, data: data === undefined ? null : data, bound: false });
    }
  });
  channel.bind('pusher:subscription_succeeded', (members) => {
    const ids = [];
    const info = {};
    members.each((member) => {
      ids.push(member.id);
      info[member.id] = member.info;
    });
    emit({
      type: 'subscribed',
      members: ids,
      me: members.me ? members.me.id : null,
      count: members.count,
      info,
    });
  });
  channel.bind('pusher:subscription_error', (error) => {
    emit({ type: 'error', where: 'subscription', error: safe(error) });
  });
  channel.bind('pusher:member_added', (member) => {
    emit({ type: 'member_added', user_id: member.id, user_info: member.info });
  });
  channel.bind('pusher:member_removed', (member) => {
    emit({ type: 'member_removed', user_id: member.id, user_info: member.info });
  });

  serveCommands(
    {
      trigger(command) {
        let ok = false;
        try {
          ok = channel.trigger(command.event, command.data);
        } catch (error) {
          emit({ type: 'error', where: 'trigger', message: String(error.message || error) });
          return;
        }
        emit({ type: 'triggered', event: command.event, ok: Boolean(ok) });
      },
      bind(command) {
        bindClientEvent(command.event);
        emit({ type: 'bound', event: command.event });
      },
    },
    lifetime,
  );
}

main();
