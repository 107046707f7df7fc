package privacy

// messageWords is the vocabulary of status and exception messages: English
// function words and the words software uses to describe failures. A word of
// a message that is neither in it (case-insensitively), nor code-shaped, nor
// a value placeholder becomes {word} (see templateWords). Config.Messages.Words
// adds to it.
var messageWords = setOf(`
a an the this that these those it its is are was were be been being am has have had having
do does did done doing not no nor and or but if then else when while for to of in on at by
with without from into onto out over under up down off than too very so such as per via
all any some each every both either neither none more most less least many much few other
another same only own can cannot could may might must shall should will would yet also
again already still just now never ever always once there here where which who whom whose what
why how because since until unless after before during between within across against
about above below through behind beside besides among around toward towards near inside outside
i you he she we they me him her us them my your his our their mine yours
error errors failed failure fail fails failing fatal panic panicked exception exceptions
warning warn warned invalid valid illegal unexpected unknown unsupported unavailable
missing not found exists exist existing already duplicate conflict conflicting denied
forbidden unauthorized unauthenticated permission permissions access refused reset
timeout timed expired expire expires deadline exceeded exceeds exceed limit limits
rate quota exhausted overflow underflow out bounds range index key keys value values
null nil none empty zero negative positive too large small long short big
connection connections connect connected connecting disconnected closed close closing
open opened opening broken pipe socket stream streams channel channels host hosts port
address addresses network unreachable dns lookup resolve resolved resolving name names
request requests response responses reply status code codes header headers body payload
read reading write writing wrote written send sending sent receive receiving received
get set put post patch delete head options trace connect
file files directory directories path paths disk space full device io input output
database db table tables row rows column columns query queries statement transaction
transactions commit committed rollback rolled lock locks locked locking unlock deadlock
deadlocked contention acquire acquired acquiring release released releasing hold holding held
take took taken granted blocked blocking waits wait waiting waited retry retries retrying retried attempt
attempts attempted abort aborted cancel canceled cancelled cancellation interrupted
shutdown shutting stopped stop stopping start started starting restart restarted
service services server servers client clients backend upstream downstream peer
node nodes cluster pod pods container containers process processes thread threads
memory heap stack allocation allocate allocated alloc oom killed kill signal
cpu load busy idle slow fast latency throughput queue queued queues full drained
parse parsing parsed decode decoding decoded encode encoding encoded marshal unmarshal
serialize deserialize format formatted malformed corrupt corrupted truncated checksum
mismatch match matched matching type types field fields method methods function
argument arguments parameter parameters param params config configuration setting
settings option options flag flags feature version versions schema
token tokens credential credentials certificate certificates cert tls ssl handshake
authentication authorization auth login logout session sessions user users account
accounts tenant tenants role roles scope scopes policy
order orders payment payments charge charges card cards transfer transfers balance
balances amount amounts entry entries ledger item items cart checkout inventory stock
price prices product products customer customers invoice invoices refund refunds
declined insufficient funds
object objects resource resources record records message messages event events
job jobs task tasks worker workers batch batches operation operations call calls
internal external local remote default required optional allowed disallowed
enabled disabled available unavailable ready healthy unhealthy degraded
create created creating update updated updating remove removed removing add added
delete deleted deleting insert inserted fetch fetched load loaded save saved store stored
find found search lookup handle handled handler unhandled process processed processing
execute executed executing run running ran call called calling return returned returns
expected got want wanted need needed needs use used using try tried
notify notified notification notifications email mail sms page paged alert alerts
first last next previous new old current before after
true false ok yes
don doesn didn isn aren wasn weren won wouldn couldn shouldn haven hasn hadn ll re ve
req res resp ctx err msg id ids ms sec secs min max avg num str len buf cfg conf env
tmp src dst addr db ok info debug
http https grpc rpc tcp udp ip url uri api json xml yaml proto protobuf sql eof
`)
