<?php
// Pushes, delays and reserves jobs with Laravel's own queue (Debian's php-laravel-framework)
// on a real redis-server: php laravel_queue.php PORT DATABASE PREFIX QUEUE PUSH DELAY RESERVE
//   [HORIZON_AGE]
// With HORIZON_AGE, payloads get Horizon's `pushedAt` (JobPayload::prepare), as
// Horizon's RedisQueue::pushRaw adds it, dated HORIZON_AGE seconds ago.
require '/usr/share/php/Illuminate/Queue/autoload.php';
require '/usr/share/php/Illuminate/Redis/autoload.php';

use Illuminate\Container\Container;
use Illuminate\Queue\Capsule\Manager as Queue;
use Illuminate\Queue\RedisQueue;
use Illuminate\Redis\RedisManager;

[, $port, $database, $prefix, $name, $push, $delay, $reserve] = $argv;
$horizonAge = $argv[8] ?? null;

class HorizonPayloadQueue extends RedisQueue
{
    public static $age = 0.0;

    public function pushRaw($payload, $queue = null, array $options = [])
    {
        $data = json_decode($payload, true);
        $data['pushedAt'] = str_replace(',', '.', (string) (microtime(true) - self::$age));
        return parent::pushRaw(json_encode($data), $queue, $options);
    }
}

$container = new Container;
$container->instance('redis', new RedisManager($container, 'phpredis', [
    'default' => ['host' => '127.0.0.1', 'port' => (int) $port, 'database' => (int) $database],
    'options' => ['prefix' => $prefix],
]));
$manager = new Queue($container);
$manager->addConnection(['driver' => 'redis', 'connection' => 'default', 'queue' => $name,
                         'retry_after' => 90]);
$queue = $manager->getConnection();
if ($horizonAge !== null) {
    HorizonPayloadQueue::$age = (float) $horizonAge;
    $queue = new HorizonPayloadQueue($container['redis'], $name, 'default', 90);
    $queue->setContainer($container);
}
for ($i = 0; $i < (int) $push; $i++) {
    $queue->push('App\\Jobs\\SendMail', ['n' => $i], $name);
}
for ($i = 0; $i < (int) $delay; $i++) {
    $queue->later(3600, 'App\\Jobs\\SendMail', ['later' => $i], $name);
}
for ($i = 0; $i < (int) $reserve; $i++) {
    if ($queue->pop($name) === null) {
        fwrite(STDERR, "nothing to reserve\n");
        exit(1);
    }
}
echo "ok\n";
