// An EndpointSlice follower built as the original kubelan's was: client-go v0.19, a shared
// informer on discovery.k8s.io/v1beta1 EndpointSlices in every namespace. It prints, on each
// change, every Service's addresses as a JSON line, so a test can check that kube-fake serves
// that API to a client of that age as kube-apiserver 1.21-1.24 did.
//
//	v1beta1-follower KUBECONFIG
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	discovery "k8s.io/api/discovery/v1beta1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: v1beta1-follower KUBECONFIG")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	factory := informers.NewSharedInformerFactory(kubernetes.NewForConfigOrDie(config), 0)
	informer := factory.Discovery().V1beta1().EndpointSlices().Informer()
	print := func() {
		services := map[string][]string{}
		for _, object := range informer.GetStore().List() {
			slice := object.(*discovery.EndpointSlice)
			service := slice.Namespace + "/" + slice.Labels[discovery.LabelServiceName]
			if _, seen := services[service]; !seen {
				services[service] = []string{}
			}
			for _, endpoint := range slice.Endpoints {
				if endpoint.Conditions.Ready != nil && !*endpoint.Conditions.Ready {
					continue
				}
				node := endpoint.Topology["kubernetes.io/hostname"]
				for _, address := range endpoint.Addresses {
					services[service] = append(services[service], address+"@"+node)
				}
			}
			sort.Strings(services[service])
		}
		line, _ := json.Marshal(services)
		fmt.Println(string(line))
	}
	informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { print() },
		UpdateFunc: func(interface{}, interface{}) { print() },
		DeleteFunc: func(interface{}) { print() },
	})
	informer.Run(make(chan struct{}))
}
