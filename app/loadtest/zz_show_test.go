package loadtest
import ("bytes";"context";"fmt";"os";"testing")
func TestShow(t *testing.T){ fake, srv := newFakeServer(t); var o,e bytes.Buffer
Main(context.Background(), []string{"--base",srv.URL,"--scenario","mixed","--mail-dir",fake.mailDir,"--duration","1s","--concurrency","4","--hash-duration","1s","--pid",fmt.Sprint(os.Getpid())},&o,&e); fmt.Println(e.String()); fmt.Println(o.String())}
