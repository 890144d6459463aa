#!/usr/bin/env node
// A Laravel front end's client for interop tests: Laravel Echo on pusher-js, speaking
// line-based JSON, configured as a Laravel app configures it (resources/js/echo.js).
//
// Usage:
//   node devtools/laravel_echo_peer.js --key KEY --host 127.0.0.1 --port 6001 \
//     --auth-endpoint http://127.0.0.1:PORT/broadcasting/auth --token SANCTUM_TOKEN \
//     [--broadcaster reverb|pusher] [--join chat.1] [--private orders.1] \
//     [--listen OrderShipped,.order.shipped] [--whispers typing] [--max-seconds 60]
//
// --join names presence channels (Echo.join), --private private channels
// (Echo.private), comma-separated. On every one of them the peer calls
// .listen(name) for each --listen name, .listenForWhisper(name) for each --whispers
// name, .listenToAll(), .subscribed() and .error(); presence channels also get
// .here(), .joining() and .leaving().
//
// stdout, one JSON object a line ("channel" is the full name, e.g. "presence-chat.1"):
//   {"type":"connection","current":..,"previous":..,"socket_id":..}
//   {"type":"subscribed","channel":..}
//   {"type":"here","channel":..,"users":[user_info...]}
//   {"type":"joining","channel":..,"user":user_info}
//   {"type":"leaving","channel":..,"user":user_info}
//   {"type":"event","channel":..,"listen":name given to .listen,"data":..}
//   {"type":"any","channel":..,"name":name as listenToAll reports it,"data":..}
//   {"type":"whisper","channel":..,"name":..,"data":..,"user_id":metadata.user_id}
//   {"type":"whispered","channel":..,"name":..}      (after a whisper command)
//   {"type":"left","channel":..}                      (after a leave command)
//   {"type":"error",...}
//   {"type":"bye","reason":"quit"|"stdin closed"|"time limit"}
// stdin, one JSON command a line:
//   {"cmd":"whisper","channel":"presence-chat.1","name":"typing","data":{...}}
//   {"cmd":"leave","channel":"chat.1"}   -> Echo.leave(name)
//   {"cmd":"quit"}                       -> Echo.disconnect(), exit 0
// It exits by itself when stdin closes, and after --max-seconds (default 60) no matter what.

'use strict';

const {
  emit,
  Lifetime,
  list,
  notInstalled,
  readConfig,
  reportConnection,
  requirePusher,
  safe,
  serveCommands,
} = require('./peer_common');

async function loadEcho() {
  // laravel-echo 2 is an ES module ("type": "module"; its CommonJS build cannot be
  // required), so it is imported; from this file, it resolves in devtools/node_modules.
  try {
    const module = await import('laravel-echo');
    return module.default;
  } catch (error) {
    return notInstalled('laravel-echo', error);
  }
}

async function main() {
  const config = readConfig(
    (args) => ({
      key: args.key,
      host: args.host || '127.0.0.1',
      port: Number(args.port),
      authEndpoint: args['auth-endpoint'],
      token: args.token,
      broadcaster: args.broadcaster || 'reverb',
      join: list(args.join),
      private: list(args.private),
      listen: list(args.listen),
      whispers: list(args.whispers),
      maxSeconds: Number(args['max-seconds'] || 60),
    }),
    ['key', 'port', 'authEndpoint', 'token'],
  );
  const lifetime = new Lifetime(config.maxSeconds);
  const Pusher = requirePusher();
  const Echo = await loadEcho();

  // As in a Laravel app's resources/js/echo.js for Reverb (VITE_REVERB_* values), with
  // a Sanctum token instead of the session cookie of a browser.
  const echo = new Echo({
    broadcaster: config.broadcaster,
    Pusher,
    key: config.key,
    cluster: 'mt1',
    wsHost: config.host,
    wsPort: config.port,
    wssPort: config.port,
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    enableStats: false,
    authEndpoint: config.authEndpoint,
    bearerToken: config.token,
    auth: { headers: { Accept: 'application/json' } },
  });
  lifetime.client = echo;
  reportConnection(echo.connector.pusher);

  function wire(channel, fullName, presence) {
    channel
      .subscribed(() => emit({ type: 'subscribed', channel: fullName }))
      .error((error) => emit({ type: 'error', where: 'subscription', channel: fullName, error: safe(error) }))
      .listenToAll((name, data) => emit({ type: 'any', channel: fullName, name, data: safe(data) }));
    config.listen.forEach((name) => {
      channel.listen(name, (data) => emit({ type: 'event', channel: fullName, listen: name, data: safe(data) }));
    });
    config.whispers.forEach((name) => {
      channel.listenForWhisper(name, (data, metadata) => {
        emit({
          type: 'whisper',
          channel: fullName,
          name,
          data: safe(data),
          user_id: metadata && metadata.user_id !== undefined ? metadata.user_id : null,
        });
      });
    });
    if (presence) {
      channel
        .here((users) => emit({ type: 'here', channel: fullName, users: safe(users) }))
        .joining((user) => emit({ type: 'joining', channel: fullName, user: safe(user) }))
        .leaving((user) => emit({ type: 'leaving', channel: fullName, user: safe(user) }));
    }
  }

  const channels = {};
  config.private.forEach((name) => {
    channels[`private-${name}`] = echo.private(name);
    wire(channels[`private-${name}`], `private-${name}`, false);
  });
  config.join.forEach((name) => {
    channels[`presence-${name}`] = echo.join(name);
    wire(channels[`presence-${name}`], `presence-${name}`, true);
  });

  serveCommands(
    {
      whisper(command) {
        const channel = channels[command.channel];
        if (!channel) {
          emit({ type: 'error', where: 'command', message: `no channel ${command.channel}` });
          return;
        }
        try {
          channel.whisper(command.name, command.data);
        } catch (error) {
          emit({ type: 'error', where: 'whisper', message: String(error.message || error) });
          return;
        }
        emit({ type: 'whispered', channel: command.channel, name: command.name });
      },
      leave(command) {
        echo.leave(command.channel);
        emit({ type: 'left', channel: command.channel });
      },
    },
    lifetime,
  );
}

main().catch((error) => {
  emit({ type: 'error', where: 'main', message: String((error && error.stack) || error) });
  process.exit(1);
});
