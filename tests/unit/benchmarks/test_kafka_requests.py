from benchmarks.kafka_requests import count_requests

FETCH = (
    '[t] DEBUG Completed request:{"requestHeader":{"clientId":"faststream","requestApiKeyName":"FETCH"},'
    '"request":{"replicaId":-1,"maxWaitMs":1000,"topics":[{"topic":"a","partitions":[{"partition":0},'
    '{"partition":1}]}]},"response":{"partitions":[{"partition":0}]},'
    '"connection":"127.0.0.1:9092-127.0.0.1:40001-0-1"} (kafka.request.logger)'
)
HEARTBEAT = (
    '[t] DEBUG Completed request:{"requestHeader":{"requestApiKeyName":"HEARTBEAT"},'
    '"request":{"groupId":"signpost-audit"},"connection":"127.0.0.1:9092-127.0.0.1:40002-0-2"}'
)


def test_requests_are_counted_by_api_and_by_the_process_that_owns_the_connection() -> (
    None
):
    by_api, by_client = count_requests(
        [FETCH, FETCH, HEARTBEAT, "[t] INFO something else"], {40001: "audit"}
    )

    assert by_api == {"FETCH": 2, "HEARTBEAT": 1}
    assert by_client == {
        ("audit", "FETCH (2 partitions, wait 1000 ms)"): 2,
        ("other", "HEARTBEAT (signpost-audit)"): 1,
    }
